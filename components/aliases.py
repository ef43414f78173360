"""Alias names with a meaning of their own in this project (one home, below the spec and the rules)."""

PRODUCTION_ALIAS = "Production"
"""The alias a served model must pin, and the one a deployment job watches unless told otherwise."""
