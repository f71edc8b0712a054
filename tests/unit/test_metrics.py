"""The metrics every service serves: requests counted by route template and status, one registry per app, and
gauges read at scrape time that never make /metrics fail. Small FastAPI apps, driven in-process through httpx."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI, HTTPException

from sparkctl.services.common.metrics import PROBE_TIMEOUT, Metrics, install_metrics
from support.metrics import by_label, samples, value


def tiny_app(service: str = "tiny") -> FastAPI:
    app = FastAPI()

    @app.get("/v1/sessions/{session_id}")
    async def session(session_id: str) -> dict[str, str]:
        if session_id == "gone":
            raise HTTPException(404, "no such session")
        return {"id": session_id}

    @app.post("/v1/chat")
    async def chat() -> dict[str, str]:
        return {"answer": "hi"}

    install_metrics(app, Metrics(service))
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tiny")


async def exposition(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_route_template_and_status() -> None:
    async with client(tiny_app()) as http:
        for session in ("a", "b", "c", "gone"):
            await http.get(f"/v1/sessions/{session}")
        await http.post("/v1/chat")
        text = await exposition(http)

    route = "/v1/sessions/{session_id}"
    counted = by_label(text, "sparkctl_http_requests_total", "status", route=route, method="GET", service="tiny")
    assert counted == {"200": 3.0, "404": 1.0}
    assert value(text, "sparkctl_http_requests_total", route="/v1/chat", method="POST", status="200") == 1.0
    assert value(text, "sparkctl_http_request_duration_seconds_count", route=route, status="200") == 3.0
    routes = {sample.labels["route"] for sample in samples(text, "sparkctl_http_requests_total")}
    assert not {"/v1/sessions/a", "/v1/sessions/b", "/v1/sessions/gone"} & routes


async def test_a_path_no_route_matches_is_counted_as_other() -> None:
    async with client(tiny_app()) as http:
        for path in ("/nothing/here", "/wp-login.php", "/v1/sessions/a/b"):
            assert (await http.get(path)).status_code == 404
        text = await exposition(http)

    assert value(text, "sparkctl_http_requests_total", route="other", status="404") == 3.0
    routes = {sample.labels["route"] for sample in samples(text, "sparkctl_http_requests_total")}
    assert routes == {"other"}, "a scrape is counted after its own exposition is written"


async def test_two_apps_in_one_process_keep_their_own_counts() -> None:
    first, second = tiny_app("first"), tiny_app("second")
    async with client(first) as one, client(second) as other:
        await one.post("/v1/chat")
        await one.post("/v1/chat")
        await other.post("/v1/chat")
        first_text, second_text = await exposition(one), await exposition(other)

    assert value(first_text, "sparkctl_http_requests_total", route="/v1/chat") == 2.0
    assert value(second_text, "sparkctl_http_requests_total", route="/v1/chat") == 1.0
    assert {s.labels["service"] for s in samples(second_text, "sparkctl_http_requests_total")} == {"second"}


async def test_an_unusual_method_is_counted_as_other() -> None:
    async with client(tiny_app()) as http:
        await http.request("BREW", "/v1/chat")
        text = await exposition(http)

    assert value(text, "sparkctl_http_requests_total", method="other", route="/v1/chat", status="405") == 1.0


async def test_a_gauge_whose_server_is_down_leaves_no_sample_and_counts_a_scrape_error() -> None:
    app = tiny_app()
    metrics: Metrics = app.state.metrics
    state = {"down": False}

    async def jobs() -> dict[str, float]:
        if state["down"]:
            raise ConnectionRefusedError("connection refused")
        return {"queued": 2.0, "completed": 5.0}

    async def hanging() -> float:
        await asyncio.sleep(60)
        return 1.0

    metrics.gauge("test_jobs", "jobs by state", source="postgres", read=jobs, label="state")
    metrics.gauge("test_queue", "a queue that never answers", source="nats", read=hanging)
    async with client(app) as http:
        up = await exposition(http)
        state["down"] = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        down = await exposition(http)
        elapsed = loop.time() - started

    assert by_label(up, "test_jobs", "state") == {"queued": 2.0, "completed": 5.0}
    assert value(up, "sparkctl_scrape_errors_total", source="postgres") == 0.0
    assert samples(down, "test_jobs") == []
    assert samples(down, "test_queue") == []
    assert value(down, "sparkctl_scrape_errors_total", source="postgres") == 1.0
    assert value(down, "sparkctl_scrape_errors_total", source="nats") == 2.0
    assert elapsed < PROBE_TIMEOUT + 1
