"""The key between the services, which also guards LightRAG's and the preprocessor's NodePorts in the cluster.

With SPARKCTL_SERVICE_KEY set, every route but /health wants `Authorization: Bearer KEY` (/metrics included:
Prometheus scrapes the metrics port instead, which no NodePort exposes), and the services' clients send it;
unset (the local stack, on 127.0.0.1 only), the routes are open.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import SecretStr

OPEN_PATHS = frozenset({"/health"})


def require_service_key(app: FastAPI, key: SecretStr | None) -> None:
    """Refuse requests without the key (401, OpenAI-style error body); nothing when no key is set."""
    if key is None:
        return
    expected = f"Bearer {key.get_secret_value()}".encode()

    @app.middleware("http")
    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path in OPEN_PATHS:
            return await call_next(request)
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            error = {
                "message": "this service wants its key: Authorization: Bearer KEY (SPARKCTL_SERVICE_KEY)",
                "type": "authentication_error",
                "code": "invalid_service_key",
            }
            return JSONResponse({"error": error}, status_code=401)
        return await call_next(request)


def service_headers(key: SecretStr | None) -> dict[str, str]:
    """What a client of another service sends: the key, when there is one."""
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key is not None else {}
