"""sparkctl: a private LLM and GraphRAG platform on an NVIDIA DGX Spark."""

__version__ = "0.1.0"
