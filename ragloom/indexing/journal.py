"""The document table as a commit log: a document counts as indexed only once every writer has it.

Each batch is committed in two SQLite transactions (WAL mode, `journal.sqlite` in the index
directory), each O(batch) whatever the size of the index:

1. `begin(ids)`: the batch's documents are marked pending (their old hash forgotten);
2. the writers delete those documents' old chunks and write the new ones;
3. `commit(hashes)`: the documents are recorded with their hashes, no longer pending.

A run killed anywhere leaves every half-written document pending (so the next run deletes its
chunks, even if its file is gone, and writes it again) or not in the table at all (written
again). Nothing is lost or duplicated. The header (encoder, pipeline) is in `manifest.json`.

A committed document may also record its *record key*: a fingerprint of the raw source record
it was read from (`ragloom.loaders.record_keys`). A later run hands `record_keys` to the loader,
which recognises unchanged records by their bytes alone and never parses them.

An index that held documents before manifest format 3 may name some of them by a path relative
to the working directory of the run that indexed them: the journal keeps the manifest's
`legacy_ids` mark on such an index (`legacy_ids`) until a run that replaced every document it
kept calls `clear_legacy_ids` (see `ragloom.manifest`).

Example::

    journal = Journal(index_dir, manifest, {"encoder": ..., "pipeline": ...})
    journal.begin(["a.md"]); write(...); journal.commit({"a.md": "3f2c..."})
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragloom.manifest import may_hold_legacy_ids, write_manifest

JOURNAL_FILE = "journal.sqlite"
#: Asked for the hashes of more documents than this, the journal reads the whole table at once
#: (a million rows: 0.8 s) instead of looking them up in batches.
BULK_LOOKUP = 100_000
#: Ids per lookup query (SQLite allows 32,766 parameters).
LOOKUP_BATCH = 900
_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents(
    doc_id TEXT PRIMARY KEY, hash TEXT, pending INTEGER NOT NULL DEFAULT 0, record_key BLOB,
    source TEXT
) WITHOUT ROWID;
"""


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=60)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    # Committing a batch touches random pages of a million-row table: keep them cached
    # (SQLite's default cache is 2 MB; memory is only used as pages are read).
    connection.execute("PRAGMA cache_size=-131072")
    connection.executescript(_SCHEMA)
    columns = {row[1] for row in connection.execute("PRAGMA table_info(documents)")}
    for column, kind in (("record_key", "BLOB"), ("source", "TEXT")):
        if column not in columns:  # a journal written before the column existed
            connection.execute(f"ALTER TABLE documents ADD COLUMN {column} {kind}")
    # Pending documents are few (an interrupted batch): find them without a table scan.
    connection.execute(
        "CREATE INDEX IF NOT EXISTS pending_documents ON documents(doc_id) WHERE pending"
    )
    return connection


def read_documents(index_dir: Path) -> tuple[dict[str, str], set[str]]:
    """The indexed documents' `{doc_id: hash}` and the pending ids (nothing is created)."""
    path = Path(index_dir) / JOURNAL_FILE
    if not path.exists():
        return {}, set()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        connection.execute("BEGIN")  # one snapshot for both reads
        done = dict(connection.execute("SELECT doc_id, hash FROM documents WHERE pending = 0"))
        pending = {i for (i,) in connection.execute("SELECT doc_id FROM documents WHERE pending")}
    except sqlite3.OperationalError:
        if connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents'").fetchone():
            raise
        done, pending = {}, set()  # the first writer is creating the journal right now
    finally:
        connection.close()
    return done, pending


class Journal:
    """The index's document table; every change is committed at once, O(changed documents)."""

    def __init__(self, index_dir: Path, manifest: Mapping[str, Any] | None, header: dict[str, Any]):
        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.header = dict(header)
        if may_hold_legacy_ids(manifest):  # marked before a format-1 import saves the header
            self.header["legacy_ids"] = True
        self._db = _connect(self.index_dir / JOURNAL_FILE)
        if manifest and ("documents" in manifest or "pending" in manifest):
            self._import_format_1(manifest)
        self.pending = {
            i for (i,) in self._db.execute("SELECT doc_id FROM documents WHERE pending")
        }
        if self.legacy_ids and not self._db.execute("SELECT 1 FROM documents LIMIT 1").fetchone():
            self.clear_legacy_ids()  # an empty index holds no former id
        self._record_keys: dict[bytes, str] | None = None

    @property
    def legacy_ids(self) -> bool:
        """True when documents indexed before manifest format 3 may go by an id relative to
        the working directory of their run (the manifest says so when saved)."""
        return bool(self.header.get("legacy_ids"))

    def clear_legacy_ids(self) -> None:
        """Drop the `legacy_ids` mark from the header (saved with it): every document this index
        keeps was named by this ragloom (e.g. a `--prune` run deleted the others)."""
        self.header.pop("legacy_ids", None)

    def hashes(self, doc_ids: Iterable[str] | None = None) -> dict[str, str]:
        """The committed `{doc_id: hash}`: every document, or those of `doc_ids` that are
        committed (a re-index asks only for the documents it loaded: most were recognised)."""
        return self._lookup("hash", doc_ids)

    def sources(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """The file each of `doc_ids` was indexed from, where the journal recorded one."""
        return self._lookup("source", doc_ids)

    def _lookup(self, column: str, doc_ids: Iterable[str] | None) -> dict[str, str]:
        query = f"SELECT doc_id, {column} FROM documents WHERE pending = 0"
        if column != "hash":
            query += f" AND {column} IS NOT NULL"
        ids = None if doc_ids is None else list(dict.fromkeys(doc_ids))
        if ids is None or len(ids) > BULK_LOOKUP:
            return dict(self._db.execute(query))
        found: dict[str, str] = {}
        for start in range(0, len(ids), LOOKUP_BATCH):
            part = ids[start : start + LOOKUP_BATCH]
            marks = ",".join("?" * len(part))
            found.update(self._db.execute(f"{query} AND doc_id IN ({marks})", part))
        return found

    @property
    def record_keys(self) -> dict[bytes, str]:
        """`{record key: doc_id}` of the committed documents read from a keyed record (read
        on first use: only a loader that recognises records needs it)."""
        if self._record_keys is None:
            rows = self._db.execute(
                "SELECT record_key, doc_id FROM documents "
                "WHERE pending = 0 AND record_key IS NOT NULL"
            )
            self._record_keys = dict(rows)
        return self._record_keys

    def _import_format_1(self, manifest: Mapping[str, Any]) -> None:
        """Move a format-1 manifest's document table into the journal (once; idempotent)."""
        documents = dict(manifest.get("documents") or {})
        pending = set(manifest.get("pending") or [])
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, 0, NULL, NULL)", documents.items()
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?, NULL, 1, NULL, NULL)",
                ((i,) for i in pending),
            )
        self.save()  # the manifest without its table, as format 2

    def _transaction(self) -> Any:
        return _Transaction(self._db)

    def save(self) -> None:
        """Write the header (encoder, pipeline, time of the run) into manifest.json."""
        data = {**self.header, "updated": datetime.now(UTC).isoformat(timespec="seconds")}
        write_manifest(self.index_dir, data)

    def begin(self, doc_ids: Iterable[str]) -> None:
        """Mark documents as being rewritten or deleted (before any writer touches them)."""
        ids = sorted(set(doc_ids))
        if not ids:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT INTO documents VALUES (?, NULL, 1, NULL, NULL) "
                "ON CONFLICT(doc_id) DO UPDATE SET hash = NULL, pending = 1, record_key = NULL",
                ((i,) for i in ids),
            )
        self.pending |= set(ids)

    def commit(
        self,
        hashes: Mapping[str, str],
        deleted: Iterable[str] = (),
        record_keys: Mapping[str, bytes] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        """Record written documents' hashes (and record keys and source files, where known) and
        forget deleted ones (their writes are done)."""
        gone = sorted(set(deleted) - set(hashes))
        keys, files = record_keys or {}, sources or {}
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, 0, ?, ?)",
                ((i, h, keys.get(i), files.get(i)) for i, h in sorted(hashes.items())),
            )
            self._db.executemany("DELETE FROM documents WHERE doc_id = ?", ((i,) for i in gone))
        self.pending -= set(hashes) | set(gone)

    def set_record_keys(self, keys: Mapping[str, bytes]) -> None:
        """Record the keys of committed, unchanged documents (one transaction)."""
        if not keys:
            return
        with self._transaction():
            self._db.executemany(
                "UPDATE documents SET record_key = ? WHERE doc_id = ? AND pending = 0",
                ((key, doc_id) for doc_id, key in keys.items()),
            )

    def close(self) -> None:
        self._db.close()


class _Transaction:
    """`with` block = one IMMEDIATE transaction, rolled back on any error."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, kind: object, *_: object) -> None:
        self.connection.execute("COMMIT" if kind is None else "ROLLBACK")
