"""The manifest as a commit log: a document is in `documents` only once every writer has it.

Each batch is committed in two atomic manifest writes (temp file + rename):

1. `begin(ids)`: the batch's ids leave `documents` and join `pending`;
2. the writers delete those documents' old chunks and write the new ones;
3. `commit(hashes)`: the ids leave `pending` and enter `documents` with their hashes.

A run killed anywhere leaves every half-written document either out of `documents` (so the
next run re-writes it, deleting whatever chunks it has first) or in `pending` (so the next run
deletes its chunks even if its file is gone). Nothing is lost or duplicated.

Example::

    journal = Journal(index_dir, manifest, {"encoder": ..., "pipeline": ...})
    journal.begin(["a.md"]); write(...); journal.commit({"a.md": "3f2c..."})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragloom.manifest import write_manifest


class Journal:
    """The index manifest's document table, saved after every change."""

    def __init__(self, index_dir: Path, manifest: Mapping[str, Any] | None, header: dict[str, Any]):
        self.index_dir = Path(index_dir)
        self.header = dict(header)
        manifest = manifest or {}
        self.documents: dict[str, str] = dict(manifest.get("documents") or {})
        self.pending: set[str] = set(manifest.get("pending") or [])

    def save(self) -> None:
        data = {
            **self.header,
            "documents": self.documents,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if self.pending:
            data["pending"] = sorted(self.pending)
        write_manifest(self.index_dir, data)

    def begin(self, doc_ids: Iterable[str]) -> None:
        """Mark documents as being rewritten or deleted (before any writer touches them)."""
        ids = set(doc_ids)
        if not ids:
            return
        for doc_id in ids:
            self.documents.pop(doc_id, None)
        self.pending |= ids
        self.save()

    def commit(self, hashes: Mapping[str, str], deleted: Iterable[str] = ()) -> None:
        """Record written documents' hashes and forget deleted ones (their writes are done)."""
        self.documents.update(hashes)
        self.pending -= set(hashes) | set(deleted)
        self.save()
