"""Alembic migrations for the relay's tables."""
