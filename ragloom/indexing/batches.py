"""Writing documents in batches: the writer interface every executor implements, and sizing.

Its own module, below both `ragloom.indexing.runner` (which drives the batches) and
`ragloom.indexing.ray_data` (one of the writers), so neither imports the other to share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ragloom.types import Document


@dataclass
class BatchSizer:
    """How many documents the next batch writes and commits.

    Fixed when the user chose a size; else it starts at `size` and doubles (up to `limit`)
    after every full batch that took under half of `target_s`, so a commit happens about once
    a second: per-commit costs stay small, and a crash loses at most about a second of work.
    """

    size: int
    adaptive: bool = False
    target_s: float = 1.0
    limit: int = 8192

    def record(self, documents: int, seconds: float) -> None:
        if self.adaptive and documents >= self.size and seconds < self.target_s / 2:
            self.size = min(self.limit, self.size * 2)


@dataclass
class BatchResult:
    """What writing one batch did: each written-count output, seconds per stage, chunks."""

    written: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    chunks: int = 0


#: A batch to write: its documents and the call that writes them.
Batch = tuple[list[Document], Callable[[], BatchResult]]


class BatchWriter:
    """Writes documents in batches and deletes documents, through some executor."""

    kind = "local"

    def start(self) -> None:
        """Load models and start workers (before the throughput clock starts)."""

    def check_delete(self, doc_ids: list[str]) -> None:
        """Raise ConfigError, before anything changes, if `doc_ids` cannot be deleted."""

    def delete(self, doc_ids: list[str]) -> BatchResult:
        raise NotImplementedError

    def batches(self, documents: list[Document], sizer: BatchSizer) -> Iterator[Batch]:
        """Batches of `sizer.size` documents (read again before each batch)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release workers and stores (before the driver opens the stores itself)."""
