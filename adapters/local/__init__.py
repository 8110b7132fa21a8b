"""Embedded, deterministic stand-ins for the providers. Development and tests only."""
