"""What an indexing run did (`IndexReport`) and its live throughput bar on stderr.

Example::

    report = RAG(index_dir="idx").index(["docs"], prune=True)
    print(report.summary())       # "added 3, updated 1, unchanged 40, deleted 2, failed 1 ..."
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ragloom.progress import progress_bar
from ragloom.types import Document

logger = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """What one indexing run did: document counts by outcome, chunks, stores, speed."""

    documents: int
    chunks_written: dict[str, int]
    stored: dict[str, int]
    skipped: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    #: Documents per second, chunks per second, tokens per second over the writing phase.
    throughput: dict[str, float] = field(default_factory=dict)
    #: "local", "ray" (a Ray actor per stage) or "ray-data" (distributed batch indexing).
    executor: str = "local"

    @property
    def failed(self) -> list[str]:
        """Inputs that could not be indexed, as "path: reason" (the loader's skipped list)."""
        return list(self.skipped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "chunks_written": self.chunks_written,
            "stored": self.stored,
            "skipped": self.skipped,
            "timings": self.timings,
            "throughput": self.throughput,
            "executor": self.executor,
        }

    def summary(self) -> str:
        """One line for people: what changed and how fast."""
        line = (
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"deleted {self.deleted}, failed {len(self.skipped)}"
        )
        if self.throughput.get("documents"):
            t = self.throughput
            line += (
                f" ({t['documents_per_s']:.1f} docs/s, {t['chunks_per_s']:.1f} chunks/s, "
                f"{t['tokens_per_s']:.0f} tokens/s)"
            )
        return line


class TokenCounter:
    """Counts model tokens with the encoder's fast tokenizer (whitespace words without one)."""

    def __init__(self, model: str | None):
        self.model = model
        self._tokenizer: Any = None
        self._failed = model is None

    def __call__(self, texts: Sequence[str]) -> int:
        if not texts:
            return 0
        if not self._failed and self._tokenizer is None:
            try:
                from ragloom.models import load_tokenizer

                self._tokenizer = load_tokenizer(str(self.model))
            except Exception as exc:  # counting tokens must never fail a run
                logger.debug("token counting falls back to words: %s", exc)
                self._failed = True
        if self._tokenizer is None:
            return sum(len(text.split()) for text in texts)
        ids = self._tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return sum(len(row) for row in ids)


class Throughput:
    """Documents, chunks and tokens written so far; a bar on stderr shows their rates."""

    def __init__(self, total: int, count_tokens: TokenCounter):
        self.count_tokens = count_tokens
        self.documents = 0
        self.chunks = 0
        self.tokens = 0
        self.start = time.perf_counter()
        self.bar = progress_bar(total, desc="indexing", unit="doc")

    def restart(self) -> None:
        """Start the clock now (after models loaded)."""
        self.start = time.perf_counter()

    def add(self, documents: Sequence[Document], chunks: int) -> None:
        self.documents += len(documents)
        self.chunks += chunks
        self.tokens += self.count_tokens([doc.text for doc in documents])
        self.bar.update(len(documents))
        rates = self.rates()
        self.bar.set_postfix(
            {
                "docs/s": f"{rates['documents_per_s']:.1f}",
                "chunks/s": f"{rates['chunks_per_s']:.1f}",
                "tok/s": f"{rates['tokens_per_s']:.0f}",
            },
            refresh=False,
        )

    def rates(self) -> dict[str, float]:
        seconds = max(time.perf_counter() - self.start, 1e-9)
        return {
            "documents": self.documents,
            "chunks": self.chunks,
            "tokens": self.tokens,
            "seconds": seconds,
            "documents_per_s": self.documents / seconds,
            "chunks_per_s": self.chunks / seconds,
            "tokens_per_s": self.tokens / seconds,
        }

    def close(self) -> None:
        self.bar.close()
