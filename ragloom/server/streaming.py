"""Bridging a query run on a worker thread to the event loop, piece by piece.

The worker runs the query pipeline with a stream handler (`ragloom.generation.streaming`) that
hands each generated piece to the loop with `call_soon_threadsafe`; the loop side reads them
from an asyncio.Queue, then the QueryResult (or the error), within the request's deadline.

Example::

    run = QueryStream(service, "What is BM25?", None)
    run.start()
    kind, value = await run.next()   # ("piece", "BM25 ") ... ("done", QueryResult)
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from ragloom.generation.base import Message
from ragloom.server.errors import ApiError, error_body

if TYPE_CHECKING:
    from ragloom.server.service import RagService


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: `data: <json>` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def sse_error(error: ApiError) -> bytes:
    """An error met after the stream began: OpenAI clients raise it from the stream."""
    return sse(error_body(error.status, error.message, error.code, error.param))


class QueryStream:
    """One streamed query: ("piece", str)... then ("done", QueryResult) or ("error", exc)."""

    def __init__(
        self,
        service: RagService,
        question: str,
        top_k: int | None,
        history: list[Message] | None = None,
        filters: dict[str, Any] | None = None,
    ):
        self.service = service
        self.filters = filters
        self.question = question
        self.top_k = top_k
        self.history = history
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + service.settings.request_timeout_s

    def _put(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))

    def _work(self) -> None:
        try:
            result = self.service.query(
                self.question,
                self.top_k,
                self.history,
                on_piece=lambda p: self._put("piece", p),
                filters=self.filters,
            )
            self._put("done", result)
        except BaseException as exc:
            self._put("error", exc)

    def start(self) -> None:
        """Submit the run to the service's worker pool."""
        self.loop.run_in_executor(self.service.pool, self._work)

    async def next(self) -> tuple[str, Any]:
        """The next event; a 504 ApiError once the deadline passes."""
        remaining = self.deadline - self.loop.time()
        try:
            return await asyncio.wait_for(self.queue.get(), max(remaining, 0.0))
        except TimeoutError:
            raise ApiError(504, self.service.timeout_message(), "timeout") from None
