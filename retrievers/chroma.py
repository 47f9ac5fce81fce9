"""Dense retrieval stages over an embedded Chroma store in the index directory.

Example YAML::

    writer:
      type: chroma_writer
      init_parameters: {collection: ragloom}
    dense:
      type: chroma_retriever
      init_parameters: {collection: ragloom, top_k: 20}

Both take `server: http://127.0.0.1:8000` to keep the collection on a Chroma server
(`chroma run --path DIR --port 8000`) instead of `<index_dir>/<subdir>`: then several
processes may write and read it at once, which an embedded directory never allows.

`chroma_retriever` takes metadata filters (`ragloom.filters`), applied through Chroma's
`where` before the nearest are cut: `filters` in its parameters (always applied) and per query
on its `filters` input; both hold when both are given.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PositiveInt

from ragloom.component import Component, output_types
from ragloom.filters import FilterSpec, combine, parse_filter
from ragloom.registry import register
from ragloom.retrievers.chroma_store import (
    ChromaServerUnreachable,
    ChromaStore,
    CollectionNotFound,
    to_hits,
)
from ragloom.types import Chunk, Hit

logger = logging.getLogger(__name__)
#: HNSW candidates per search: at 100, SciFact claims asking for 10 keep 99.5 % of their exact
#: top 10 (benchmarks/README.md, "Chroma `ef_search` against exact search").
DEFAULT_EF_SEARCH = 100


def _chroma_accepts(name: str) -> str:
    """Chroma's remaining name rules: no '..' and not an IPv4 address."""
    if ".." in name:
        raise ValueError("a collection name may not contain '..'")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    raise ValueError("a collection name may not be an IPv4 address")


CollectionName = Annotated[
    str,
    Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$"),
    AfterValidator(_chroma_accepts),
]


def _server_url(url: str) -> str:
    """`http(s)://host[:port]` and nothing else (no path, query or credentials)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a server URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a Chroma server is http://HOST:PORT or https://HOST:PORT")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("a Chroma server URL has no path, query or credentials")
    default = 443 if parts.scheme == "https" else 8000
    return f"{parts.scheme}://{parts.hostname}:{port or default}"


ServerUrl = Annotated[str, AfterValidator(_server_url)]


class _ChromaStage(Component):
    """Where the collection lives (index directory or server) and how its HNSW graph is built
    (fixed at creation)."""

    #: Readers open only an existing collection: a query must never create a store.
    read_only = False

    def __init__(
        self,
        collection: CollectionName = "ragloom",
        subdir: str = "chroma",
        space: Literal["cosine", "ip", "l2"] = "cosine",
        ef_construction: PositiveInt = 200,
        ef_search: PositiveInt = DEFAULT_EF_SEARCH,
        max_neighbors: PositiveInt = 16,
        server: ServerUrl | None = None,
    ):
        self.collection = collection
        self.server = server
        self.subdir = subdir
        self.space = space
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.max_neighbors = max_neighbors
        self._index_dir = Path(".ragloom")
        self._store: ChromaStore | None = None

    def bind_index(self, index_dir: Path) -> None:
        if Path(index_dir) != self._index_dir:
            self._index_dir = Path(index_dir)
            self._store = None

    @property
    def store(self) -> ChromaStore:
        if self._store is None:
            hnsw = {
                "space": self.space,
                "ef_construction": self.ef_construction,
                "ef_search": self.ef_search,
                "max_neighbors": self.max_neighbors,
            }
            self._store = ChromaStore(
                self._index_dir / self.subdir, self.collection, hnsw, self.server, self.read_only
            )
        return self._store

    def warm_up(self) -> None:
        try:
            _ = self.store.collection
        except ChromaServerUnreachable as exc:
            raise ChromaServerUnreachable(f"{self.label()}: server: {exc}") from None


@register("chroma_writer")
class ChromaWriter(_ChromaStage):
    """Writes embedded chunks; a document's old chunks are replaced, never duplicated."""

    @output_types(written=int)
    def run(self, chunks: list[Chunk], delete_documents: list[str] | None = None) -> dict[str, Any]:
        """Write `chunks` (replacing their documents' old chunks); first drop `delete_documents`."""
        if delete_documents:
            self.store.delete_documents(delete_documents)
        return {"written": self.store.write(chunks)}

    def stored_chunks(self) -> int:
        """Chunks in the collection (the `ChunkWriter` role)."""
        return self.store.count()


@register("chroma_retriever")
class ChromaRetriever(_ChromaStage):
    """Nearest chunks to a query embedding, scored by cosine similarity.

    It only reads: an index without its collection (built without a dense writer, or with
    another collection name) is an error when the stage runs, and nothing is created.
    """

    read_only = True

    def __init__(
        self,
        top_k: PositiveInt = 10,
        source: str = "dense",
        filters: FilterSpec | None = None,
        **inherited: Any,
    ):
        """Takes the collection settings of `chroma_writer` too."""
        super().__init__(**inherited)
        self.top_k = top_k
        self.source = source
        self.filters = filters
        self._filter = parse_filter(filters)
        #: A non-default `ef_search` the configuration asked for, checked once against the
        #: value the collection keeps, which is the one every search uses (defaults are
        #: filled in before `__init__`, so "not given" reads as the default).
        asked = inherited.get("ef_search")
        self._asked_ef_search = None if asked in (None, DEFAULT_EF_SEARCH) else asked

    @output_types(hits=list[Hit])
    def run(
        self,
        query_embedding: list[float],
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.run_batch(
            [{"query_embedding": query_embedding, "top_k": top_k, "filters": filters}]
        )[0]

    def run_batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Many queries' searches, one Chroma query per distinct (top_k, filters) among them
        (`ragloom.roles.BatchRunner`: a server's concurrent requests share a search)."""
        self.check_index()
        groups: dict[str, list[int]] = {}
        for n, call in enumerate(calls):
            k = call.get("top_k") or self.top_k  # a per-call value is checked on entry
            groups.setdefault(json.dumps([k, call.get("filters")], sort_keys=True), []).append(n)
        results: list[dict[str, Any]] = [{} for _ in calls]
        for key, members in groups.items():
            k, filters = json.loads(key)
            where = combine(self._filter, parse_filter(filters))
            embeddings = [calls[n]["query_embedding"] for n in members]
            for n, found in zip(members, self.store.search_many(embeddings, k, where), strict=True):
                results[n] = {"hits": to_hits(found, self.source)}
        return results

    def warm_up(self) -> None:
        """Open the collection if it exists; a missing one is reported by `run`, which names
        the stage (a long-lived process may see the index built after it started)."""
        try:
            self.store.find_collection()
        except ChromaServerUnreachable as exc:
            raise ChromaServerUnreachable(f"{self.label()}: server: {exc}") from None

    def reopen_index(self) -> None:
        """Search what another process committed since the store opened
        (`ragloom.roles.ReopensIndex`)."""
        if self._store is not None:
            self._store.reopen()

    def _warn_ignored_ef_search(self) -> None:
        """Say once that a reader's own `ef_search` does not apply: the collection's, set by
        its writer (`chroma_writer`'s `ef_search`, applied at its next `ragloom index`), does."""
        asked, self._asked_ef_search = self._asked_ef_search, None
        stored = self.store.stored_ef_search()
        if asked is not None and stored is not None and int(asked) != stored:
            logger.warning(
                "%s: ef_search %d is not used: the collection searches with ef_search %d, "
                "its writer's; set ef_search on chroma_writer and run `ragloom index` to change it",
                self.label(),
                asked,
                stored,
            )

    def check_index(self) -> None:
        """Refuse to query a collection that is not there, saying what to do
        (`ragloom.roles.IndexReader`)."""
        if self.store.find_collection():
            self._warn_ignored_ef_search()
            return
        if self.server:
            where = f"the Chroma server {self.server} has no collection {self.collection!r}"
        else:
            where = (
                f"the index at {self._index_dir} has no Chroma collection {self.collection!r} "
                f"in {self.subdir}/ (it was built without a dense writer, or into another "
                "collection)"
            )
        raise CollectionNotFound(
            f"{where}: query with the configuration it was indexed with (-c FILE), or index "
            "with this one first"
        )
