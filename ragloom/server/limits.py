"""Bounds on what one server takes: requests in flight (429 beyond) and body size (413).

Both are plain ASGI middleware: they answer before FastAPI parses anything, so an overload or
a huge body costs no pipeline work. A streamed answer holds its slot until its last byte.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from ragloom.server.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths the in-flight bound applies to: the work endpoints (health and metrics stay cheap
#: and always answer, so an overloaded server can still be observed).
BOUNDED_PREFIX = "/v1/"


async def send_error(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    """Answer `status` with OpenAI's error body, from outside FastAPI."""
    body = json.dumps(error_body(status, message)).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def app_path(scope: Scope) -> str:
    """The request's path within the app: without the prefix it is mounted at (`root_path`,
    e.g. a Ray Serve app's route_prefix `/tight`), which ASGI servers may include in `path`."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "").rstrip("/")
    if root and (path == root or path.startswith(f"{root}/")):
        return path[len(root) :]
    return path


class InFlightLimit:
    """At most `limit` requests to /v1/ endpoints at once; the next gets 429 and Retry-After."""

    def __init__(self, app: ASGIApp, limit: int, retry_after_s: int):
        self.app = app
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.in_flight = 0  # the event loop is single-threaded: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not app_path(scope).startswith(BOUNDED_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            message = (
                f"too many requests in flight ({self.limit}, the server's max_in_flight); "
                f"retry after {self.retry_after_s} s"
            )
            await send_error(send, 429, message, {"Retry-After": str(self.retry_after_s)})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413: by Content-Length when it is sent, and
    by counting what arrives (a chunked upload has none)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def message(self, size: int | None = None) -> str:
        got = f" ({size} bytes)" if size is not None else ""
        return (
            f"the request body is too large{got}: the limit is {self.max_bytes} bytes "
            f"(the server's max_body_bytes)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    await send_error(send, 400, "Content-Length is not a number", {})
                    return
                if size > self.max_bytes:
                    await send_error(send, 413, self.message(size), {"Connection": "close"})
                    return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body.
                    raise HTTPException(413, self.message())
            return message

        await self.app(scope, counted, send)
