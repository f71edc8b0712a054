"""sparkctl: a private LLM and GraphRAG platform on an NVIDIA DGX Spark."""
