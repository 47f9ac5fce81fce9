"""Tiny components shared by the unit tests, registered once (on import) under `test_*` names.

Import it as `tests.unit.components_for_tests`: Python's module cache makes the `@register`
calls run exactly once per session.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from ragloom.component import Component, Variadic, output_types
from ragloom.registry import register
from ragloom.types import Chunk, Hit

TEST_TYPES = (
    "test_upper",
    "test_source",
    "test_join",
    "test_length",
    "test_scale",
    "test_sleep",
    "test_fail",
    "test_hits",
)


@register("test_upper")
class Upper(Component):
    """Upper-cases a text and appends a suffix."""

    def __init__(
        self, suffix: str = "", mode: Literal["plain", "title"] = "plain", repeat: int = 1
    ):
        self.suffix = suffix
        self.mode = mode
        self.repeat = repeat

    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        out = text.title() if self.mode == "title" else text.upper()
        return {"text": out * self.repeat + self.suffix}


@register("test_source")
class Source(Component):
    """Emits a fixed text; it has no inputs at all."""

    def __init__(self, value: str = "hello"):
        self.value = value

    @output_types(text=str)
    def run(self) -> dict[str, Any]:
        return {"text": self.value}


@register("test_join")
class Join(Component):
    """Joins every text it is fed (a variadic input)."""

    def __init__(self, separator: str = " "):
        self.separator = separator

    @output_types(text=str)
    def run(self, parts: Variadic[str]) -> dict[str, Any]:
        return {"text": self.separator.join(parts)}


@register("test_length")
class Length(Component):
    """The length of a text: an `int` output, for type-mismatch tests."""

    @output_types(length=int)
    def run(self, text: str) -> dict[str, Any]:
        return {"length": len(text)}


@register("test_scale")
class Scale(Component):
    """Multiplies a number; `offset` is an optional input."""

    def __init__(self, factor: float = 1.0):
        self.factor = factor

    @output_types(value=float)
    def run(self, value: float, offset: float = 0.0) -> dict[str, Any]:
        return {"value": value * self.factor + offset}


@register("test_sleep")
class Sleep(Component):
    """Sleeps, then passes its input through: for concurrency tests."""

    def __init__(self, seconds: float = 0.5):
        self.seconds = seconds

    @output_types(value=Any)
    def run(self, value: Any) -> dict[str, Any]:
        time.sleep(self.seconds)
        return {"value": value}


@register("test_fail")
class Fail(Component):
    """Always raises: for failure handling; its outputs fit hits, text and number receivers."""

    def __init__(self, message: str = "backend offline"):
        self.message = message

    @output_types(hits=list[Hit], text=str, value=float)
    def run(self, query: str) -> dict[str, Any]:
        raise ConnectionError(self.message)


@register("test_hits")
class FixedHits(Component):
    """A retriever stand-in: the given chunk ids as hits of `source`, scored n, n-1, ..., 1."""

    def __init__(self, source: str = "bm25", ids: list[str] | None = None):
        self.source = source
        self.ids = list(ids or [])

    @output_types(hits=list[Hit])
    def run(self, query: str) -> dict[str, Any]:
        hits = []
        for rank, cid in enumerate(self.ids, 1):
            score = float(len(self.ids) - rank + 1)
            chunk = Chunk(doc_id=cid, text=cid, start=0, end=len(cid), id=cid)
            hits.append(Hit(chunk, score, {self.source: score}, {self.source: rank}))
        return {"hits": hits}
