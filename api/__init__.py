"""HTTP API and web console (FastAPI). Nothing else in cjo imports this package."""
