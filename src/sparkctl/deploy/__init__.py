"""Serving models and the GraphRAG stack in the cluster: chart values from the catalog, the memory budget,
model pulls and teardown."""
