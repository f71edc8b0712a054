"""The LLM test double answers both APIs deterministically (it is a double, not a feature)."""

from __future__ import annotations

import json

import httpx

from support.fake_llm import FakeLLM, answer_for


def test_extraction_prompt_gets_lightrag_rows() -> None:
    prompt = "entity ... relation ...\n---Input Text---\n```\nThe Client sends a Request to the Server.\n```\n"
    rows = answer_for([{"role": "user", "content": prompt}]).splitlines()
    assert rows[0] == "entity<|#|>The<|#|>Concept<|#|>The is mentioned in the text."
    assert "entity<|#|>Client<|#|>Concept<|#|>Client is mentioned in the text." in rows
    assert rows[-1] == "<|COMPLETE|>"
    assert any(row.startswith("relation<|#|>Client<|#|>Request") for row in rows)


def test_openai_and_ollama_chat_and_embeddings(fake_llm: FakeLLM) -> None:
    with httpx.Client(base_url=fake_llm.url) as client:
        chat = client.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.json()["choices"][0]["message"]["content"] == "echo: hi"
        with client.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hello"}]},
        ) as r:
            events = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        text = "".join(json.loads(e[6:])["choices"][0]["delta"].get("content", "") for e in events[:-1])
        assert text == "echo: hello"
        native = client.post(
            "/api/chat", json={"model": "m", "stream": False, "messages": [{"role": "user", "content": "x"}]}
        )
        assert native.json()["message"]["content"] == "echo: x"
        vectors = client.post("/api/embed", json={"model": "e", "input": ["a b", "a b"]}).json()["embeddings"]
        assert vectors[0] == vectors[1] and len(vectors[0]) == 1024
    assert [r.path for r in fake_llm.requests] == [
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/api/chat",
        "/api/embed",
    ]


def test_injected_failure(fake_llm: FakeLLM) -> None:
    fake_llm.fail_with = 503
    response = httpx.post(f"{fake_llm.url}/v1/chat/completions", json={"messages": []})
    assert response.status_code == 503
