"""Streaming hook: a per-run callback that generator stages hand each piece of text to.

The CLI and SDK set it around a pipeline run; the local executor copies the context into its
worker threads, so the generator stage sees it wherever it runs.

Example::

    with stream_to(lambda piece: print(piece, end="", flush=True)):
        pipeline.run({"query": "..."})
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

StreamHandler = Callable[[str], None]
_handler: ContextVar[StreamHandler | None] = ContextVar("ragloom_stream_handler", default=None)


@contextmanager
def stream_to(handler: StreamHandler) -> Iterator[None]:
    """Send generated text pieces to `handler` for runs inside this block."""
    token = _handler.set(handler)
    try:
        yield
    finally:
        _handler.reset(token)


def current_stream_handler() -> StreamHandler | None:
    """The handler of the current run, if anyone is listening."""
    return _handler.get()


def stream_pieces(work: Callable[[], T]) -> Iterator[tuple[str, Any]]:
    """Run `work()` on a thread of its own, streaming: yields ("piece", str) for each piece it
    generates, then ("done", its result) or ("error", what it raised), as they happen."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def run() -> None:
        try:
            with stream_to(lambda piece: events.put(("piece", piece))):
                events.put(("done", work()))
        except BaseException as exc:
            events.put(("error", exc))

    threading.Thread(target=run, name="ragloom-stream", daemon=True).start()
    while True:
        event = events.get()
        yield event
        if event[0] != "piece":
            return
