"""Chunks a store has found but not yet read: id, document and span now; text, position and
metadata on first use.

A dense search for 300 candidates costs about 4 ms in Chroma's HNSW graph and another 40 ms (far
more under load) to read those 300 rows' texts and metadata back from its SQLite file, while
fusion keeps five of them. A store therefore returns `StoredChunk`s built from the chunk ids
alone (`parse_chunk_id`: ragloom's ids are `doc_id#start-end`), fusion ranks them by id,
document and span, and `read_hits` reads only the ones it keeps, in one call.

A `StoredChunk` is a `Chunk` everywhere else too: touching the text, position or metadata of a
chunk not yet read reads it and every other unread chunk of the same search at once (the cost
of an eager search, no more). Pickled (Ray) or copied it becomes a plain `Chunk`; it compares
equal to the plain chunk with the same fields.

Example::

    found = StoredChunk.search_results(ids, read_rows)   # from a store's search
    kept = read_hits(fuse(found)[:5])                    # one read for the five
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ragloom.types import Chunk, Hit, Metadata

#: Reads chunks by id; an id it cannot find is left out of the mapping.
ReadChunks = Callable[[list[str]], Mapping[str, Chunk]]

_DIGITS = re.compile(r"[0-9]+")


class ChunkGoneError(RuntimeError):
    """A chunk a search found was deleted before its text was read (a concurrent write)."""


def parse_chunk_id(chunk_id: str) -> tuple[str, int, int] | None:
    """(doc_id, start, end) of an id in ragloom's `doc_id#start-end` form, else None."""
    doc_id, mark, span = chunk_id.rpartition("#")
    start, dash, end = span.partition("-")
    if not (mark and dash and _DIGITS.fullmatch(start) and _DIGITS.fullmatch(end)):
        return None
    first, last = int(start), int(end)
    return (doc_id, first, last) if first <= last else None


def misleading_id(chunk: Chunk) -> bool:
    """True when `chunk.id` reads as `doc_id#start-end` but names another document or span:
    a store must refuse it, since readers trust that form without reading the row."""
    parsed = parse_chunk_id(chunk.id)
    return parsed is not None and parsed != (chunk.doc_id, chunk.start, chunk.end)


class _Search:
    """The unread chunks of one search and how to read them; reads are serialised."""

    def __init__(self, read: ReadChunks):
        self.read = read
        self.pending: list[StoredChunk] = []
        self.lock = threading.Lock()

    def load(self, chunks: Sequence[StoredChunk]) -> None:
        with self.lock:
            wanted = [c for c in chunks if c._row is None]
            if not wanted:
                return
            rows = self.read([c.id for c in wanted])
            missing = [c.id for c in wanted if c.id not in rows]
            if missing:
                raise ChunkGoneError(
                    f"chunk {missing[0]!r} was deleted while this query ran (the index changed "
                    "under it): run the query again"
                )
            for chunk in wanted:
                chunk._row = rows[chunk.id]
            self.pending = [c for c in self.pending if c._row is None]


class StoredChunk(Chunk):
    """A `Chunk` whose text, position and metadata are read from its store on first use."""

    def __init__(self, *args: Any, **fields: Any):
        """The same arguments as `Chunk` (`dataclasses.replace` calls it so): a chunk read."""
        row = Chunk(*args, **fields)
        self._set_known(row.id, row.doc_id, row.start, row.end, None)
        self._row: Chunk | None = row
        self.embedding = row.embedding

    @classmethod
    def search_results(
        cls, found: Iterable[tuple[str, str, int, int]], read: ReadChunks
    ) -> list[StoredChunk]:
        """Unread chunks for (id, doc_id, start, end) rows, read together by `read`."""
        search = _Search(read)
        new = object.__new__
        for chunk_id, doc_id, start, end in found:
            chunk = new(cls)
            chunk.__dict__ = {  # what _set_known sets, at a fraction of the cost (300 a query)
                "id": chunk_id,
                "doc_id": doc_id,
                "start": start,
                "end": end,
                "_search": search,
                "_row": None,
                "embedding": None,
            }
            search.pending.append(chunk)
        return list(search.pending)

    def _set_known(
        self, chunk_id: str, doc_id: str, start: int, end: int, search: _Search | None
    ) -> None:
        self.__dict__.update(id=chunk_id, doc_id=doc_id, start=start, end=end)
        self._search = search

    def _read(self) -> Chunk:
        if self._row is None:
            assert self._search is not None
            self._search.load(self._search.pending or [self])
        assert self._row is not None
        return self._row

    @property
    def text(self) -> str:  # type: ignore[override]
        return self._read().text

    @property
    def position(self) -> int:  # type: ignore[override]
        return self._read().position

    @property
    def metadata(self) -> Metadata:  # type: ignore[override]
        return self._read().metadata

    @property
    def is_read(self) -> bool:
        """Whether the text and metadata are here (no store read on access)."""
        return self._row is not None

    def plain(self) -> Chunk:
        """This chunk as a plain `Chunk` (read first if need be)."""
        row = self._read()
        return Chunk(
            doc_id=self.doc_id,
            text=row.text,
            start=self.start,
            end=self.end,
            position=row.position,
            id=self.id,
            metadata=row.metadata,
            embedding=self.embedding,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Chunk):
            return NotImplemented
        mine = self.plain()
        theirs = other.plain() if isinstance(other, StoredChunk) else other
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (Ray, multiprocessing) or copied: a plain `Chunk`, read first."""
        return self.plain().__reduce__()  # type: ignore[return-value]

    def __repr__(self) -> str:
        state = "read" if self.is_read else "unread"
        return f"StoredChunk(id={self.id!r}, doc_id={self.doc_id!r}, {state})"


def unread_chunks(
    ids: Sequence[str], read: ReadChunks, read_now: ReadChunks | None = None
) -> list[Chunk]:
    """The chunks of a search's `ids`, in order: unread for ids in `doc_id#start-end` form
    (read later, together, by `read`); the others read at once by `read_now` (default `read`),
    since only their rows say their document."""
    odd = [i for i in ids if parse_chunk_id(i) is None]
    rows = (read_now or read)(odd) if odd else {}
    spans = [(i, *parsed) for i in ids if (parsed := parse_chunk_id(i)) is not None]
    stored: dict[str, Chunk] = {c.id: c for c in StoredChunk.search_results(spans, read)}
    stored.update(rows)
    gone = next((i for i in ids if i not in stored), None)
    if gone is not None:
        raise ChunkGoneError(f"chunk {gone!r} was deleted while this query ran: run it again")
    return [stored[i] for i in ids]


def load_chunks(chunks: Iterable[Chunk]) -> None:
    """Read every unread `StoredChunk` among `chunks`: one read per search they came from."""
    by_search: dict[int, tuple[_Search, list[StoredChunk]]] = {}
    for chunk in chunks:
        if isinstance(chunk, StoredChunk) and not chunk.is_read and chunk._search is not None:
            by_search.setdefault(id(chunk._search), (chunk._search, []))[1].append(chunk)
    for search, wanted in by_search.values():
        search.load(wanted)


def read_hits(hits: Sequence[Hit]) -> list[Hit]:
    """`hits` with every `StoredChunk` read (one read per search) and made a plain `Chunk`:
    what a stage that cuts a long candidate list short returns."""
    load_chunks(hit.chunk for hit in hits)
    return [
        replace(hit, chunk=hit.chunk.plain()) if isinstance(hit.chunk, StoredChunk) else hit
        for hit in hits
    ]
