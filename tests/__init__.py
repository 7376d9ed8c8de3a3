"""The relay's test suite."""
