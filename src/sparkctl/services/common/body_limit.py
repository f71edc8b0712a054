"""A limit on request bodies, enforced while they are read: a larger body is refused with 413, never held whole.

A body whose Content-Length is over the limit is refused at its first read, before a byte of it is
taken; one sent without a length (chunked) is refused as soon as the bytes read pass the limit. The
refusal is an HTTPException raised from `receive`, so the app's own handler answers it in the service's
error shape; a route that never reads its body is never refused.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes (set by {setting})")


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body; `setting` names what raises the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, setting: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise BodyTooLarge(self.max_bytes, self.setting)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes, self.setting)
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    try:
        return int(Headers(scope=scope)["content-length"])
    except (KeyError, ValueError):
        return None
