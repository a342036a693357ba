"""The web console: server-rendered pages for reviewers, marketers and admins (no CDN, no SPA)."""
