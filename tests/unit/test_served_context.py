"""The context a model server says it runs a model with, from the shapes of Ollama's /api/show, vLLM's
/v1/models and llama.cpp's /props answers, and LightRAG's chunk and summary sizes that follow from it."""

from __future__ import annotations

from sparkctl.services.common.served_context import (
    effective_context,
    listed_context,
    ollama_context,
    props_context,
)
from sparkctl.services.lightrag.engine import context_limits

OLLAMA_SHOW = {
    "modelfile": "FROM /root/.ollama/models/blobs/sha256-…",
    "parameters": 'repeat_penalty 1\nstop "<|im_start|>"\ntemperature 0.6',
    "template": "{{ .System }}",
    "details": {"family": "qwen3", "parameter_size": "8.2B", "quantization_level": "Q4_K_M"},
    "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960, "qwen3.embedding_length": 4096},
}
VLLM_MODELS = {
    "object": "list",
    "data": [
        {"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm", "root": "Qwen/Qwen3-8B", "max_model_len": 16384}
    ],
}
LLAMA_SERVER_PROPS = {
    "default_generation_settings": {"n_ctx": 8192, "params": {"n_predict": -1}},
    "total_slots": 1,
    "model_path": "/models/qwen3-8b-q4_k_m.gguf",
}


def test_ollama_gives_the_trained_length_unless_its_modelfile_sets_num_ctx() -> None:
    assert ollama_context(OLLAMA_SHOW) == 40960
    assert ollama_context(OLLAMA_SHOW | {"parameters": 'num_ctx 4096\nstop "<|im_end|>"'}) == 4096
    assert ollama_context({"error": "model 'x' not found"}) is None


def test_vllm_gives_max_model_len_of_the_model_asked_for() -> None:
    assert listed_context(VLLM_MODELS, "Qwen/Qwen3-8B") == 16384
    assert listed_context(VLLM_MODELS, "another") is None
    assert listed_context({"object": "list", "data": [{"id": "fake", "object": "model"}]}, "fake") is None


def test_llama_server_gives_n_ctx_per_slot() -> None:
    assert props_context(LLAMA_SERVER_PROPS) == 8192
    assert props_context({"n_ctx": 2048}) == 2048
    assert props_context({"total_slots": 1}) is None


def test_ollama_requests_get_the_configured_num_ctx_capped_by_the_model_others_get_the_servers() -> None:
    assert effective_context(8192, 40960, sent_per_request=True) == 8192
    assert effective_context(65536, 40960, sent_per_request=True) == 40960
    assert effective_context(32768, 8192, sent_per_request=False) == 8192
    assert effective_context(32768, None, sent_per_request=False) == 32768


def test_lightrag_chunks_and_summaries_fit_small_contexts_and_keep_defaults_for_large_ones() -> None:
    assert context_limits(None) == {}
    large = context_limits(32768)
    assert large["chunk_token_size"] == 1200 and large["summary_max_tokens"] == 1200
    small = context_limits(2048)
    assert small["chunk_token_size"] == 341
    assert small["summary_context_size"] == 1024
    assert small["summary_length_recommended"] < small["summary_max_tokens"] <= 256
