"""BM25 stages: write chunks into a persistent BM25 index and retrieve scored hits from it.

Example YAML::

    bm25_writer:
      type: bm25_writer
      init_parameters: {subdir: bm25}
    bm25:
      type: bm25_retriever
      init_parameters: {subdir: bm25, top_k: 20, source: bm25}
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePath
from typing import Annotated, Any

from pydantic import Field

from ragloom.component import Component, output_types
from ragloom.errors import ComponentConfigError, Problem
from ragloom.pipeline.graph import DEFAULT_INDEX_DIR
from ragloom.registry import register
from ragloom.retrievers.bm25_store import BM25Store
from ragloom.types import Chunk, Hit

Positive = Annotated[int, Field(gt=0)]


class _BM25Stage(Component):
    """Where the BM25 index lives: `<index_dir>/<subdir>`, opened lazily."""

    def _locate(self, subdir: str) -> None:
        """Set the subfolder, keeping the store inside the index directory (no '..', relative)."""
        path = PurePath(subdir)
        if not subdir.strip() or path.is_absolute() or ".." in path.parts:
            raise ComponentConfigError(
                Problem(
                    f"{self.label()}: subdir must be a relative folder inside the index "
                    f"directory, got {subdir!r}",
                    field="subdir",
                )
            )
        self.subdir = subdir
        self._index_dir = Path(DEFAULT_INDEX_DIR)
        self._store: BM25Store | None = None

    @property
    def directory(self) -> Path:
        """The store's folder; `./.ragloom/<subdir>` until a pipeline binds its index dir."""
        return self._index_dir / self.subdir

    def bind_index(self, index_dir: Path) -> None:
        if Path(index_dir) != self._index_dir:
            self._index_dir = Path(index_dir)
            self._store = None

    def warm_up(self) -> None:
        if self._store is None:
            self._store = BM25Store(self.directory)

    @property
    def store(self) -> BM25Store:
        """The opened store (opening it on first use)."""
        self.warm_up()
        assert self._store is not None
        return self._store


@register("bm25_writer")
class BM25Writer(_BM25Stage):
    """Indexes chunks for BM25; a document's previous chunks are replaced, never duplicated."""

    def __init__(self, subdir: str = "bm25"):
        self._locate(subdir)

    @output_types(written=int)
    def run(self, chunks: list[Chunk], delete_documents: list[str] | None = None) -> dict[str, Any]:
        if delete_documents:
            self.store.delete_documents(delete_documents)
        return {"written": self.store.write(chunks)}


@register("bm25_retriever")
class BM25Retriever(_BM25Stage):
    """Ranks indexed chunks by BM25Okapi score against the query's word tokens."""

    def __init__(
        self,
        subdir: str = "bm25",
        top_k: Positive = 10,
        source: Annotated[str, Field(min_length=1)] = "bm25",
    ):
        self._locate(subdir)
        self.top_k = top_k
        self.source = source

    @output_types(hits=list[Hit])
    def run(self, query: str, top_k: int | None = None) -> dict[str, Any]:
        limit = self.top_k if top_k is None else top_k
        if limit <= 0:
            raise ValueError(f"{self.label()}: top_k must be greater than 0, got {limit}")
        hits = self.store.search(query, limit)
        return {
            "hits": [
                replace(hit, source_scores={self.source: hit.score}, source_ranks={self.source: n})
                for n, hit in enumerate(hits, 1)
            ]
        }
