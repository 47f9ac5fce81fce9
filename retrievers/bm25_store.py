"""A persistent BM25 index: chunks as JSON lines plus a manifest, never pickle.

Layout of the store directory (by default `<index_dir>/bm25/`)::

    manifest.json   {"format": "ragloom-bm25", "format_version": 1, "tokenizer": {...}}
    chunks.jsonl    one chunk per line: id, doc_id, text, start, end, position, metadata

Every file is written to a temporary file in the same directory and moved into place with
`os.replace`, so a reader sees the old or the new index, never half of one. Embeddings are not
stored. One writer per directory at a time (an advisory lock serialises writers on POSIX).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.errors import ConfigError
from ragloom.retrievers.bm25_scoring import (
    DEFAULT_BACKEND,
    Scorer,
    build_scorer,
    check_backend,
    top_positive,
)
from ragloom.types import Chunk, Hit

FORMAT = "ragloom-bm25"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
CHUNKS_FILE = "chunks.jsonl"
LOCK_FILE = ".lock"

TOKEN_PATTERN = r"\w+"
#: Recorded in the manifest: an index is only read back with the tokenizer that built it.
TOKENIZER_SETTINGS: dict[str, Any] = {"type": "regex", "pattern": TOKEN_PATTERN, "lowercase": True}
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def tokenize(text: str) -> list[str]:
    """Lower-cased unicode word tokens: the one tokenizer that indexing and querying share."""
    return _TOKEN_RE.findall(text.lower())


def _json_default(value: Any) -> Any:
    """Make numpy scalars/arrays and other odd metadata values JSON-serialisable."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return str(value)


def chunk_to_record(chunk: Chunk) -> dict[str, Any]:
    """The JSON record of a chunk (without its embedding)."""
    return {
        "id": chunk.id,
        "doc_id": chunk.doc_id,
        "text": chunk.text,
        "start": chunk.start,
        "end": chunk.end,
        "position": chunk.position,
        "metadata": chunk.metadata,
    }


def chunk_from_record(record: dict[str, Any]) -> Chunk:
    """The chunk a JSON record describes."""
    return Chunk(
        doc_id=str(record["doc_id"]),
        text=record["text"],
        start=int(record["start"]),
        end=int(record["end"]),
        position=int(record.get("position", 0)),
        id=str(record["id"]),
        metadata=dict(record.get("metadata") or {}),
    )


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, default=_json_default)


def _normalised(chunk: Chunk) -> Chunk:
    """The chunk exactly as it will read back from disk (metadata through JSON, no embedding)."""
    return chunk_from_record(json.loads(_dumps(chunk_to_record(chunk))))


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    """What identifies one version of a file: a replace gives a new inode, a write a new mtime."""
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _atomic_write(path: Path, lines: Iterable[str]) -> tuple[int, int, int]:
    """Write lines to a temp file beside `path`, fsync, rename over `path`; its signature."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for line in lines:
                handle.write(line)
                handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
            signature = _signature(os.fstat(handle.fileno()))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return signature


@contextlib.contextmanager
def _writer_lock(directory: Path) -> Iterator[None]:
    """Serialise writers of one directory across processes (advisory; a no-op without fcntl)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(directory / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _manifest() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tokenizer": TOKENIZER_SETTINGS,
        "chunks_file": CHUNKS_FILE,
    }


class BM25Store:
    """A BM25 index on disk: per-document replacing writes, deterministic search, no pickle."""

    def __init__(self, directory: str | Path, backend: str = DEFAULT_BACKEND):
        self.directory = Path(directory)
        self.backend = check_backend(backend)
        self._lock = threading.RLock()
        self._chunks: dict[str, Chunk] = {}
        self._file_signature: tuple[int, int, int] | None = None
        self._scoring: tuple[list[Chunk], list[str], Scorer] | None = None
        self.refresh()

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_FILE

    @property
    def chunks_path(self) -> Path:
        return self.directory / CHUNKS_FILE

    # -- reading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload from disk if the chunks file changed since it was read (another writer)."""
        with self._lock:
            try:
                current = _signature(os.stat(self.chunks_path))
            except FileNotFoundError:
                current = None
            if current == self._file_signature:
                return
            if current is None:
                self._set({}, None)
                return
            self._check_manifest()
            with open(self.chunks_path, encoding="utf-8") as handle:
                signature = _signature(os.fstat(handle.fileno()))
                chunks = {}
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        chunk = chunk_from_record(json.loads(line))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise ConfigError(
                            f"{self.chunks_path}:{number}: unreadable BM25 chunk record ({exc})"
                        ) from None
                    chunks[chunk.id] = chunk
            self._set(chunks, signature)

    def _check_manifest(self) -> None:
        """Refuse an index written in another format or with another tokenizer."""
        path = self.manifest_path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{path}: missing; {self.directory} is not a ragloom BM25 index"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable BM25 manifest ({exc})") from None
        expected = _manifest()
        for key in ("format", "format_version", "tokenizer"):
            if data.get(key) != expected[key]:
                raise ConfigError(
                    f"{path}: {key} is {data.get(key)!r} but this ragloom reads "
                    f"{expected[key]!r}; rebuild the BM25 index (delete {self.directory})"
                )

    def _set(self, chunks: dict[str, Chunk], signature: tuple[int, int, int] | None) -> None:
        self._chunks = chunks
        self._file_signature = signature
        self._scoring = None

    def count(self) -> int:
        """Number of chunks in the index."""
        self.refresh()
        return len(self._chunks)

    def chunk_ids(self) -> list[str]:
        """Ids of every indexed chunk, sorted."""
        self.refresh()
        return sorted(self._chunks)

    def doc_ids(self) -> list[str]:
        """Ids of every indexed document, sorted."""
        self.refresh()
        return sorted({chunk.doc_id for chunk in self._chunks.values()})

    def _scoring_state(self) -> tuple[list[Chunk], list[str], Scorer]:
        """The corpus in file order and its scorer, built on first search after a (re)load."""
        with self._lock:
            self.refresh()
            if self._scoring is None:
                chunks = list(self._chunks.values())
                scorer = build_scorer(self.backend, [tokenize(c.text) for c in chunks])
                self._scoring = (chunks, [c.id for c in chunks], scorer)
            return self._scoring

    def search(self, query: str, top_k: int = 10) -> list[Hit]:
        """The `top_k` chunks holding a query token, best BM25 score first, ties by chunk id."""
        if top_k <= 0:
            raise ValueError(f"top_k must be greater than 0, got {top_k}")
        tokens = tokenize(query)
        chunks, ids, scorer = self._scoring_state()
        if not tokens or not chunks:
            return []
        scores = scorer.scores(tokens)
        return [
            Hit(chunk=replace(chunks[i], metadata=dict(chunks[i].metadata)), score=float(scores[i]))
            for i in top_positive(scores, ids, top_k, scorer.matches(tokens))
        ]

    # -- writing ----------------------------------------------------------------------------

    def write(self, chunks: Iterable[Chunk]) -> int:
        """Add chunks, first dropping every stored chunk of their documents; the number written.

        Writing the same chunks twice changes nothing (the file is not even rewritten), and an
        edited document never leaves stale chunks behind.
        """
        incoming: dict[str, Chunk] = {}
        for chunk in chunks:
            incoming[chunk.id] = _normalised(chunk)
        if not incoming:
            return 0
        doc_ids = {chunk.doc_id for chunk in incoming.values()}

        def change(stored: dict[str, Chunk]) -> dict[str, Chunk]:
            kept = {
                cid: c
                for cid, c in stored.items()
                if c.doc_id not in doc_ids and cid not in incoming
            }
            kept.update(incoming)
            return kept

        self._update(change)
        return len(incoming)

    def delete_documents(self, doc_ids: Iterable[str]) -> int:
        """Remove every chunk of the given documents; the number of chunks removed."""
        doomed = set(doc_ids)
        if not doomed or not self.chunks_path.exists():
            return 0
        removed = 0

        def change(stored: dict[str, Chunk]) -> dict[str, Chunk]:
            nonlocal removed
            kept = {cid: c for cid, c in stored.items() if c.doc_id not in doomed}
            removed = len(stored) - len(kept)
            return kept

        self._update(change)
        return removed

    def _update(self, change: Callable[[dict[str, Chunk]], dict[str, Chunk]]) -> None:
        """Read the latest index, apply `change`, and save it if anything differs."""
        with self._lock, _writer_lock(self.directory):
            self.refresh()
            updated = change(dict(self._chunks))
            if updated == self._chunks:
                return
            self._save(updated)

    def _save(self, chunks: dict[str, Chunk]) -> None:
        """Write the manifest (if needed) and then the chunks, each atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = _manifest()
        try:
            current = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            current = None
        if current != manifest:
            _atomic_write(self.manifest_path, [json.dumps(manifest, indent=2, sort_keys=True)])
        ordered = sorted(chunks.values(), key=lambda c: (c.doc_id, c.position, c.start, c.id))
        signature = _atomic_write(self.chunks_path, (_dumps(chunk_to_record(c)) for c in ordered))
        self._set({c.id: c for c in ordered}, signature)
