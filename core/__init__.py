"""Shared foundation of cjo: settings, database, tables, the audit chain, clock and API keys."""
