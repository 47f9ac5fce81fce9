"""A Chroma collection holding chunks with ragloom's own embeddings.

Embedded (a `PersistentClient` on a directory, the default) or on a Chroma server (an
`HttpClient`, when a stage names `server`). Chroma's default embedding function is never used
(it would try to download a model): `embedding_function=None` is passed on every create and
get. HNSW settings are fixed when the collection is created. One process writes an embedded
directory at a time (see shared STACK notes); a server serialises its clients itself.
A reader (`read_only=True`, what a query uses) creates nothing: no folder, no SQLite file, no
collection; a collection that is not there is a `CollectionNotFound`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ragloom.errors import RagloomError
from ragloom.filters import Filter, Untranslatable, as_filter, matches, to_chroma_where
from ragloom.stored_chunks import misleading_id, unread_chunks
from ragloom.types import (
    RECORD_SPAN,
    Chunk,
    Hit,
    chunk_from_record,
    chunk_to_record,
    metadata_json,
)

logger = logging.getLogger(__name__)

RESERVED_KEYS = (*RECORD_SPAN, "metadata_json")
#: The file a PersistentClient keeps its collections in: no file, no collection to read.
SQLITE_FILE = "chroma.sqlite3"
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
#: Directories this process opened to write: its readers share the writer's client, which
#: already holds every write, and are never reopened under it.
_written: set[str] = set()
#: The client each reopened directory had before, kept alive for searches still running on
#: it and stopped at the directory's next reopen.
_retired: dict[str, Any] = {}


class ChromaServerUnreachable(RagloomError):
    """A stage names a Chroma server that does not answer."""


class CollectionNotFound(RagloomError):
    """A reader asked for a Chroma collection that was never written."""


def open_client(path: Path, create: bool = True) -> Any:
    """The process-wide PersistentClient of a directory (telemetry off); `create=False` for a
    directory that must already hold a store (Chroma would create the folder and its files)."""
    import chromadb
    from chromadb.config import Settings

    key = str(path.resolve())
    with _clients_lock:
        if key not in _clients:
            if not create and not (path / SQLITE_FILE).is_file():
                raise CollectionNotFound(f"{path} holds no Chroma store")
            path.mkdir(parents=True, exist_ok=True)
            _clients[key] = chromadb.PersistentClient(
                path=key, settings=Settings(anonymized_telemetry=False)
            )
        if create:
            _written.add(key)
        return _clients[key]


def reopen_client(path: Path, seen: Any) -> bool:
    """Drop the client `seen` of a directory this process only reads, so the next
    `open_client` loads the store as it is on disk now; whether it was dropped.

    Chroma's embedded client keeps the HNSW index it loaded: a process that only reads
    (a server's worker while `ragloom index` runs elsewhere) would search the vectors of the
    day it opened. Nothing happens where this process writes the directory, or where another
    store already replaced `seen`."""
    from chromadb.api.shared_system_client import SharedSystemClient

    key = str(path.resolve())
    with _clients_lock:
        client = _clients.get(key)
        if key in _written or client is None or client is not seen:
            return False
        # Chroma caches one System per path; a new client needs the cached one gone.
        system = SharedSystemClient._identifier_to_system.pop(client._identifier, None)
        previous = _retired.pop(key, None)
        if previous is not None:
            previous.stop()
        if system is not None:
            _retired[key] = system
        del _clients[key]
        return True


def open_server_client(server: str) -> Any:
    """The process-wide HttpClient of a Chroma server URL such as ``http://127.0.0.1:8000``."""
    import chromadb
    from chromadb.config import Settings

    parts = urlsplit(server)
    with _clients_lock:
        if server not in _clients:
            try:
                _clients[server] = chromadb.HttpClient(
                    host=parts.hostname or "127.0.0.1",
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=Settings(anonymized_telemetry=False),
                )
            except ValueError as exc:  # chromadb's "Could not connect to a Chroma server"
                raise ChromaServerUnreachable(
                    f"the Chroma server {server} does not answer ({exc}). Start one with "
                    f"`chroma run --host {parts.hostname} --port {parts.port or 8000} --path DIR`, "
                    "or remove `server` to use the embedded store in the index directory"
                ) from None
        return _clients[server]


def _chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """Scalars for Chroma filters plus the full metadata as JSON for an exact round trip.

    The scalars are read back from that JSON, so Chroma filters the values BM25's catalogue
    holds (a numpy number is a number in both)."""
    record = chunk_to_record(chunk)
    text = metadata_json(record["metadata"])
    meta: dict[str, Any] = {
        k: v
        for k, v in json.loads(text).items()
        if isinstance(v, str | int | float | bool) and k not in RESERVED_KEYS
    }
    meta.update({key: record[key] for key in RECORD_SPAN})
    meta["metadata_json"] = text
    return meta


def _chunk_from_record(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    """The chunk a Chroma row holds: its id, its text and the metadata `_chunk_metadata` wrote."""
    record = {key: meta[key] for key in RECORD_SPAN if key in meta}
    metadata = json.loads(meta.get("metadata_json") or "{}")
    return chunk_from_record({**record, "id": chunk_id, "text": text, "metadata": metadata})


class ChromaStore:
    """Chunks in one Chroma collection: replace-by-document writes, cosine search.

    The collection lives in the directory `path`, or on `server` when one is given. A
    `read_only` store (a query's) opens only a collection that exists and creates nothing.
    """

    def __init__(
        self,
        path: Path,
        collection: str,
        hnsw: dict[str, Any],
        server: str | None = None,
        read_only: bool = False,
    ):
        self.path = path
        self.server = server
        self.collection_name = collection
        self.hnsw = dict(hnsw)
        self.read_only = read_only
        self._collection: Any = None
        self._opened_with: Any = None  # the client `_collection` came from
        self._write_lock = threading.RLock()

    @property
    def client(self) -> Any:
        if self.server:
            return open_server_client(self.server)
        return open_client(self.path, create=not self.read_only)

    @property
    def location(self) -> str:
        """Where the collection lives, for messages: the server URL or the directory."""
        return f"the Chroma server {self.server}" if self.server else str(self.path)

    def find_collection(self) -> bool:
        """Open the collection if it already exists, creating nothing; whether it does."""
        if self._collection is None:
            from chromadb.errors import NotFoundError

            try:
                client = self.client
                self._collection = client.get_collection(
                    self.collection_name, embedding_function=None
                )
                self._opened_with = client
            except (CollectionNotFound, NotFoundError):
                return False
        return True

    def reopen(self) -> None:
        """See what other processes wrote since this store opened (`reopen_client`): an
        embedded reader's next search loads the collection afresh."""
        if self.server or not self.read_only or self._opened_with is None:
            return
        reopen_client(self.path, self._opened_with)
        self._collection = self._opened_with = None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            if self.read_only:
                if not self.find_collection():
                    raise CollectionNotFound(
                        f"{self.location} holds no Chroma collection {self.collection_name!r}"
                    )
            else:
                self._collection = self.client.get_or_create_collection(
                    self.collection_name,
                    embedding_function=None,
                    configuration={"hnsw": self.hnsw},
                )
                self._apply_ef_search()
        return self._collection

    def stored_ef_search(self) -> int | None:
        """The `ef_search` the open collection keeps (every search uses it), if it says."""
        # The raw JSON: `configuration` parses it, warning about our null embedding function.
        hnsw = (self._collection.configuration_json or {}).get("hnsw") or {}
        value = hnsw.get("ef_search")
        return None if value is None else int(value)

    def _apply_ef_search(self) -> None:
        """Chroma ignores the configuration given for a collection that exists, so a writer
        whose `ef_search` changed stores the new one (`modify`): readers search with it from
        their next opening (benchmarks/README.md, "Chroma `ef_search` against exact search").
        Only `ef_search` can change; the graph's build settings stay what they were."""
        wanted, stored = self.hnsw.get("ef_search"), self.stored_ef_search()
        if wanted is not None and stored is not None and int(wanted) != stored:
            self._collection.modify(configuration={"hnsw": {"ef_search": int(wanted)}})
            logger.info(
                "%s: collection %r now searches with ef_search %d (was %d)",
                self.location,
                self.collection_name,
                wanted,
                stored,
            )

    def count(self) -> int:
        return int(self.collection.count())

    def chunk_ids(self) -> set[str]:
        return set(self.collection.get(include=[])["ids"])

    def delete_documents(self, doc_ids: Iterable[str]) -> None:
        ids = sorted(set(doc_ids))
        with self._write_lock:
            for begin in range(0, len(ids), 500):
                self.collection.delete(where={"doc_id": {"$in": ids[begin : begin + 500]}})

    def write(self, chunks: Sequence[Chunk]) -> int:
        """Replace the stored chunks of every document in `chunks` with these chunks (one
        write at a time per store: a delete and its upsert are never interleaved with
        another thread's)."""
        with self._write_lock:
            return self._write(chunks)

    def _write(self, chunks: Sequence[Chunk]) -> int:
        missing = [c.id for c in chunks if c.embedding is None]
        if missing:
            raise ValueError(f"{len(missing)} chunk(s) have no embedding, e.g. {missing[0]!r}")
        ids = [c.id for c in chunks]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate chunk ids in one write; every chunk id must be unique")
        odd = next((c for c in chunks if misleading_id(c)), None)
        if odd is not None:
            raise ValueError(
                f"chunk id {odd.id!r} reads as ragloom's doc_id#start-end form but the chunk is "
                f"[{odd.start}, {odd.end}) of document {odd.doc_id!r}: give it another id"
            )
        self.delete_documents(c.doc_id for c in chunks)
        batch = max(1, int(self.client.get_max_batch_size()))
        for begin in range(0, len(chunks), batch):
            part = chunks[begin : begin + batch]
            self.collection.upsert(
                ids=[c.id for c in part],
                embeddings=[list(map(float, c.embedding)) for c in part],  # type: ignore[arg-type]
                documents=[c.text for c in part],
                metadatas=[_chunk_metadata(c) for c in part],
            )
        return len(chunks)

    def matching_ids(self, where: Filter) -> list[str]:
        """Ids of the chunks passing `where`, by `ragloom.filters.matches` over every row's
        metadata (one pass over the collection): for filters Chroma cannot express."""
        found: list[str] = []
        batch = max(1, int(self.client.get_max_batch_size()))
        offset = 0
        while True:
            rows = self.collection.get(include=["metadatas"], limit=batch, offset=offset)
            for chunk_id, meta in zip(rows["ids"], rows["metadatas"], strict=True):
                if matches(where, meta or {}):
                    found.append(chunk_id)
            if len(rows["ids"]) < batch:
                return found
            offset += batch

    def search(
        self,
        embedding: Sequence[float],
        top_k: int,
        where: Filter | dict[str, Any] | None = None,
    ) -> list[tuple[Chunk, float]]:
        """The `top_k` nearest chunks with cosine similarity (1 - cosine distance); with
        `where` (`ragloom.filters`, a tree or its JSON), the nearest of those passing it
        (Chroma's `where`, or the ids `matching_ids` finds when Chroma cannot express it:
        filtered before the cut either way).

        Chunks come back unread (`ragloom.stored_chunks`): their texts and metadata are read
        when first used, or by `load_chunks` for just the ones a caller keeps."""
        return self.search_many([embedding], top_k, where)[0]

    def search_many(
        self,
        embeddings: Sequence[Sequence[float]],
        top_k: int,
        where: Filter | dict[str, Any] | None = None,
    ) -> list[list[tuple[Chunk, float]]]:
        """`search` for many query embeddings in one Chroma query (one list each, in order)."""
        if not embeddings:
            return []
        node = as_filter(where)
        ids: list[str] | None = None
        try:
            chroma_where = to_chroma_where(node)
        except Untranslatable:
            chroma_where, ids = None, self.matching_ids(node)  # type: ignore[arg-type]
            if not ids:
                return [[] for _ in embeddings]
        result = self.collection.query(
            query_embeddings=[list(map(float, e)) for e in embeddings],
            n_results=top_k,  # Chroma returns fewer when fewer match
            where=chroma_where,
            ids=ids,
            include=["distances"],
        )
        return [
            self._unread(found_ids, distances)
            for found_ids, distances in zip(result["ids"], result["distances"], strict=True)
        ]

    def _unread(self, ids: list[str], distances: list[float]) -> list[tuple[Chunk, float]]:
        """Search results as unread chunks (`unread_chunks`), best first, ties by id."""
        chunks = unread_chunks(ids, self.read)
        found = [(c, 1.0 - float(d)) for c, d in zip(chunks, distances, strict=True)]
        found.sort(key=lambda pair: (-pair[1], pair[0].id))
        return found

    def read(self, ids: list[str]) -> dict[str, Chunk]:
        """The stored chunks with these ids (an id not stored is left out)."""
        rows = self.collection.get(ids=ids, include=["documents", "metadatas"])
        return {
            i: _chunk_from_record(i, text, meta)
            for i, text, meta in zip(rows["ids"], rows["documents"], rows["metadatas"], strict=True)
        }


def to_hits(found: list[tuple[Chunk, float]], source: str) -> list[Hit]:
    """Hits stamped with this source's score and 1-based rank."""
    return [
        Hit(chunk, score, source_scores={source: score}, source_ranks={source: rank})
        for rank, (chunk, score) in enumerate(found, start=1)
    ]
