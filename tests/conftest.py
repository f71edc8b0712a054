"""Shared fixtures. Real servers come from tests/support; only the LLM and the Kubernetes API are doubles."""
