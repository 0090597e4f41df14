"""Accounts, roles, sessions (HTML) and bearer tokens (API)."""
