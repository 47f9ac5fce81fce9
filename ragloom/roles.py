"""Stage roles as protocols: what the runners ask of a stage, declared by the stage itself.

Indexing reports, chunk counts and the Ray Data split need to know which stages store chunks.
They ask `isinstance(component, ChunkWriter)`, never a socket name or a `store` attribute, so a
new stage with an extra integer output (or a `store` of its own) cannot change what a report
counts. A chunk writer's `run(chunks, delete_documents)` returns `{"written": int}`; that
output, and only that, is what indexing reports as written.

Example::

    counts = {name: c.stored_chunks() for name, c in components.items()
              if isinstance(c, ChunkWriter)}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: The output socket of a chunk writer that reports how many chunks a run wrote.
WRITTEN = "written"


@runtime_checkable
class ChunkWriter(Protocol):
    """A stage that stores chunks (BM25, Chroma): it writes them, deletes documents' chunks,
    and says how many it holds."""

    def run(
        self, chunks: list[Any], delete_documents: list[str] | None = None
    ) -> dict[str, Any]: ...

    def bind_index(self, index_dir: Path) -> None:
        """Keep the store inside this index directory."""
        ...

    def stored_chunks(self) -> int:
        """Chunks in the store now (opens the store, loads no model)."""
        ...


@runtime_checkable
class BatchRunner(Protocol):
    """A stage that runs many calls in one pass (a query encoder: many questions, one forward
    pass). `run_batch(calls)` takes each call's `run()` keyword arguments and returns each
    call's `run()` outputs, in order; Ray Serve batches concurrent requests through it
    (`ragloom.pipeline.plan.run_batch`)."""

    def run_batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


@runtime_checkable
class IndexReader(Protocol):
    """A stage that answers from a store in the index directory (a retriever). It runs in the
    process that has the index open: Ray Serve keeps it in the ingress even when it batches
    (a deployment would reopen the store and ship unread hits, `ragloom.stored_chunks`, across
    processes, which reads them all)."""

    def check_index(self) -> None:
        """Raise, saying what to do, when the index has no store for this stage."""
        ...


@runtime_checkable
class ReopensIndex(Protocol):
    """A reader whose store keeps a copy of the index in memory (Chroma's HNSW graph): told
    when another process committed to the index, it loads the store afresh."""

    def reopen_index(self) -> None:
        """Make the next search see the index as it is on disk now."""
        ...
