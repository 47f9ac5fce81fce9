"""BM25 stages: write chunks into a persistent BM25 index and retrieve scored hits from it.

Both stages take the index settings (`backend`, `k1`, `b`, `epsilon`, `stopwords`, `stemmer`);
the writer records them in the index manifest and a stage whose settings differ from the
index's fails with an error naming the stage, the field and both values.

Example YAML::

    bm25_writer:
      type: bm25_writer
      init_parameters: {subdir: bm25, stopwords: en, stemmer: english}
    bm25:
      type: bm25_retriever
      init_parameters: {subdir: bm25, top_k: 20, source: bm25, stopwords: en, stemmer: english}

`bm25_retriever` takes metadata filters (`ragloom.filters`): `filters` in its parameters
(always applied) and per query on its `filters` input; both hold when both are given.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt

from ragloom.component import Component, output_types
from ragloom.errors import ComponentConfigError, ConfigError, Problem
from ragloom.filters import FilterSpec, combine, parse_filter
from ragloom.pipeline.graph import DEFAULT_INDEX_DIR
from ragloom.registry import register
from ragloom.retrievers.bm25_prepare import PreparedSegment, prepare_segment
from ragloom.retrievers.bm25_scoring import BM25Settings
from ragloom.retrievers.bm25_store import BM25Store
from ragloom.types import Chunk, Hit

#: "bm25s": the segmented sparse index (memory-mapped postings, fast); "rank_bm25": the
#: reference, rebuilt in memory from the stored chunks.
Backend = Literal["bm25s", "rank_bm25"]
K1 = Annotated[float, Field(ge=0)]
B = Annotated[float, Field(ge=0, le=1)]
Epsilon = Annotated[float, Field(ge=0)]
#: "en": bm25s's English stopword list (Lucene's 33 words).
Stopwords = Literal["en"] | None
#: Snowball stemmer by PyStemmer (`pip install 'ragloom[stem]'`).
Stemmer = Literal["english"] | None


class _BM25Stage(Component):
    """Where the BM25 index lives (`<index_dir>/<subdir>`, opened lazily) and its settings."""

    def __init__(
        self,
        subdir: str = "bm25",
        backend: Backend = "bm25s",
        k1: K1 = 1.5,
        b: B = 0.75,
        epsilon: Epsilon = 0.25,
        stopwords: Stopwords = None,
        stemmer: Stemmer = None,
    ):
        """Set the folder and the index settings (validated here, before anything loads)."""
        self._locate(subdir)
        try:
            self.settings = BM25Settings(
                backend=backend, k1=k1, b=b, epsilon=epsilon, stopwords=stopwords, stemmer=stemmer
            )
        except ConfigError as exc:
            label = self.label()
            raise ComponentConfigError(
                [Problem(f"{label}: {p.message}", label, p.field) for p in exc.problems]
            ) from None

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
            self._store = BM25Store(self.directory, self.settings, label=self.label())

    @property
    def store(self) -> BM25Store:
        """The opened store (opening it on first use)."""
        self.warm_up()
        assert self._store is not None
        return self._store


@register("bm25_writer")
class BM25Writer(_BM25Stage):
    """Indexes chunks for BM25; a document's previous chunks are replaced, never duplicated.

    Example: ``BM25Writer(subdir="bm25", stopwords="en").run(chunks=chunks)``.
    """

    @output_types(written=int)
    def run(self, chunks: list[Chunk], delete_documents: list[str] | None = None) -> dict[str, Any]:
        # One commit replaces the documents' chunks: deleting first would be a second one.
        return {"written": self.store.write(chunks, delete_documents or ())}

    def stored_chunks(self) -> int:
        """Live chunks in the store (the `ChunkWriter` role)."""
        return self.store.count()

    def prepare(self, chunks: list[Chunk]) -> PreparedSegment:
        """Tokenize chunks and save their segment for the writer to register (any process that
        sees the index directory: Ray Data's encoder actors do it for their own batches)."""
        return prepare_segment(self.settings, chunks, self.directory)

    def commit_prepared(
        self, prepared: list[PreparedSegment], delete_documents: list[str]
    ) -> dict[str, Any]:
        """Register prepared segments, replacing their documents' and `delete_documents`'
        chunks (in the single writer); the same output as `run`."""
        return {"written": self.store.register(prepared, delete_documents)}


@register("bm25_retriever")
class BM25Retriever(_BM25Stage):
    """Ranks indexed chunks by BM25Okapi score against the query's word tokens.

    `filters` (`ragloom.filters`) masks the chunks before the top k are taken.

    Example: ``BM25Retriever(top_k=20, stopwords="en").run(query="river bank")["hits"]``,
    ``.run(query="river bank", filters={"team": "red"})``.
    """

    def __init__(
        self,
        top_k: PositiveInt = 10,
        source: Annotated[str, Field(min_length=1)] = "bm25",
        filters: FilterSpec | None = None,
        **inherited: Any,
    ):
        """Takes the index settings of `bm25_writer` too (they must match the index's)."""
        super().__init__(**inherited)
        self.top_k = top_k
        self.source = source
        self.filters = filters
        self._filter = parse_filter(filters)

    @output_types(hits=list[Hit])
    def run(
        self, query: str, top_k: int | None = None, filters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if not self.store.manifest_path.exists():  # never indexed here: refuse, create nothing
            raise ConfigError(
                f"the index at {self.directory.parent} has no BM25 data in {self.directory.name}/ "
                f"(it was built without a BM25 writer, or into another subdir): query with the "
                f"configuration it was indexed with (-c FILE), or index with this one first"
            )
        limit = self.top_k if top_k is None else top_k  # a per-call value is checked on entry
        hits = self.store.search(query, limit, combine(self._filter, parse_filter(filters)))
        source = self.source
        return {
            "hits": [
                Hit(hit.chunk, hit.score, {source: hit.score}, {source: n})
                for n, hit in enumerate(hits, 1)
            ]
        }
