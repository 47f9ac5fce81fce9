"""The BM25 index's catalogue: chunk records, live segments and tombstones in one SQLite file.

A commit is one SQLite transaction (WAL mode): the chunk rows it adds, the rowids it deletes
(tombstones, since segments never change), the segment it registers and a new generation
number. Readers see one committed generation or the next, never a half commit; a commit
costs O(batch), whatever the size of the index. Chunk texts and metadata are read by rowid
when a hit is returned, so no process holds the corpus in memory.

Tables::

    meta(key, value)                generation, next_rowid, live (chunk count)
    chunks(rowid, id, doc_id, record)   record: the chunk as JSON (text, span, metadata)
    segments(name, docs, base)      the live segments, by file name; a prepared segment's
                                    rowids are base + its own (0..docs-1), a merged one's absolute
    tombstones(rowid)               rows deleted from segments that are still live
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

CATALOGUE_FILE = "catalogue.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks(
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS segments(
    name TEXT PRIMARY KEY, docs INTEGER NOT NULL, base INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tombstones(rowid INTEGER PRIMARY KEY);
INSERT OR IGNORE INTO meta VALUES ('generation', 0), ('next_rowid', 1), ('live', 0);
"""
#: The page cache of a catalogue connection, KiB (memory is only used as pages are read).
CACHE_KIB = 256 * 1024
#: SQLite caps bound parameters per statement; id lists are sent in slices of this size.
_SLICE = 900


def _slices(values: Sequence[object]) -> Iterator[tuple[object, ...]]:
    """`values` in slices of `_SLICE`, so no statement passes SQLite's bound-parameter limit."""
    for begin in range(0, len(values), _SLICE):
        yield tuple(values[begin : begin + _SLICE])


def _where_in(
    connection: sqlite3.Connection, statement: str, values: Sequence[object]
) -> Iterator[tuple[Any, ...]]:
    """The rows of `statement` for all `values`, its `IN ({marks})` filled slice by slice."""
    for part in _slices(values):
        yield from connection.execute(statement.format(marks=",".join("?" * len(part))), part)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a catalogue in WAL mode; transactions are explicit."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    connection.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk when it returns (a kill -9 or a power cut keeps it).
    connection.execute("PRAGMA synchronous=FULL")
    # Replacing documents touches random pages of the chunk table and its two indexes; with
    # SQLite's default 2 MB page cache each batch at a million chunks re-reads most of them.
    connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    return connection


def create(connection: sqlite3.Connection) -> None:
    connection.executescript(_SCHEMA)


def meta(connection: sqlite3.Connection, key: str) -> int:
    row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def set_meta(connection: sqlite3.Connection, key: str, value: int) -> None:
    connection.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))


def segments(connection: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """The live segments (name, documents, rowid base) in registration order."""
    rows = connection.execute("SELECT name, docs, base FROM segments ORDER BY base, name")
    return [(str(name), int(docs), int(base)) for name, docs, base in rows]


def tombstones(connection: sqlite3.Connection) -> list[int]:
    return [int(r) for (r,) in connection.execute("SELECT rowid FROM tombstones ORDER BY rowid")]


def rows_of_documents(
    connection: sqlite3.Connection, doc_ids: Sequence[str]
) -> list[tuple[int, str, str, str]]:
    """(rowid, chunk id, doc id, record) of every stored chunk of the given documents."""
    statement = "SELECT rowid, id, doc_id, record FROM chunks WHERE doc_id IN ({marks})"
    return list(_where_in(connection, statement, doc_ids))


def rows_of_chunks(connection: sqlite3.Connection, chunk_ids: Sequence[str]) -> list[int]:
    """Rowids of stored chunks with the given ids."""
    statement = "SELECT rowid FROM chunks WHERE id IN ({marks})"
    return [int(r) for (r,) in _where_in(connection, statement, chunk_ids)]


def records(connection: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """rowid -> (chunk id, record) for the given rows that exist."""
    statement = "SELECT rowid, id, record FROM chunks WHERE rowid IN ({marks})"
    return {int(r): (str(i), str(rec)) for r, i, rec in _where_in(connection, statement, rowids)}


def chunk_ids(connection: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, str]:
    """rowid -> chunk id for the given rows that exist (no record read)."""
    statement = "SELECT rowid, id FROM chunks WHERE rowid IN ({marks})"
    return {int(r): str(i) for r, i in _where_in(connection, statement, rowids)}


def records_of_chunks(connection: sqlite3.Connection, ids: Sequence[str]) -> dict[str, str]:
    """chunk id -> record for the given chunk ids that are stored."""
    statement = "SELECT id, record FROM chunks WHERE id IN ({marks})"
    return {str(i): str(r) for i, r in _where_in(connection, statement, ids)}


def delete_rows(connection: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """Drop chunk rows and tombstone them (their segments still hold their postings)."""
    for part in _slices(rowids):
        marks = ",".join("?" * len(part))
        connection.execute(f"DELETE FROM chunks WHERE rowid IN ({marks})", part)
    connection.executemany("INSERT OR IGNORE INTO tombstones VALUES (?)", ((r,) for r in rowids))


def insert_rows(connection: sqlite3.Connection, rows: Iterable[tuple[int, str, str, str]]) -> None:
    """Insert (rowid, chunk id, doc id, record) rows."""
    connection.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", rows)


def forget_tombstones(connection: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """Tombstones of rows a merge dropped from the segments for good."""
    connection.executemany("DELETE FROM tombstones WHERE rowid = ?", ((r,) for r in rowids))
