"""A persistent BM25 index: chunks as JSON lines, a manifest, and a bm25s index; never pickle.

Layout of the store directory (by default `<index_dir>/bm25/`)::

    manifest.json    {"format": "ragloom-bm25", "format_version": 1, "tokenizer": {...},
                      "scoring": {"backend", "k1", "b", "epsilon"}}
    chunks.jsonl     one chunk per line: id, doc_id, text, start, end, position, metadata
    index-<key>/     bm25s snapshot of exactly that chunks file (backend "bm25s" only):
                     *.csc.index.npy, vocab/params.index.json, ragloom.index.json

`<key>` is a hash of the chunks file's bytes and the settings, so the index folder a reader
opens is by construction the one built from the chunks it read. A write saves the new index
folder first (under a temporary name, flushed, then renamed) and then moves the new chunks
file into place with `os.replace`, the commit; older folders are removed after it. A reader
thus sees the old or the new index, never a mix, and never waits on a half-written one: with
no folder for its chunks (an index written by an older ragloom, or debris) it rebuilds the
scorer in memory. Embeddings are not stored. One writer per directory at a time (an advisory
lock serialises writers on POSIX); a writer clears what an interrupted writer left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from ragloom.errors import ConfigError, Problem
from ragloom.retrievers.bm25_scoring import (
    LOADERS,
    TOKENIZER_SETTINGS,
    BM25Settings,
    PersistentScorer,
    Scorer,
    Tokenizer,
    build_scorer,
    tokenize,
    top_positive,
)
from ragloom.types import Chunk, Hit

__all__ = ["TOKENIZER_SETTINGS", "BM25Store", "tokenize"]

FORMAT = "ragloom-bm25"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
CHUNKS_FILE = "chunks.jsonl"
SOURCE_FILE = "ragloom.index.json"
LOCK_FILE = ".lock"
_INDEX_DIR_RE = re.compile(r"index-[0-9a-f]{16}")
_TEMP_PREFIX = ".index-"


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


def _write_temp(path: Path, lines: Iterable[str]) -> tuple[str, str]:
    """Write lines to a flushed temp file beside `path`; its name and the sha256 of its bytes."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for line in lines:
                data = line.encode("utf-8") + b"\n"
                digest.update(data)
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _discard(tmp)
        raise
    return tmp, digest.hexdigest()


def _discard(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _commit(tmp: str, path: Path) -> tuple[int, int, int]:
    """Move a written temp file over `path` (atomic); the signature `path` now has."""
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise
    return _signature(os.stat(path))


def _atomic_write(path: Path, lines: Iterable[str]) -> tuple[int, int, int]:
    """Write lines to a temp file beside `path`, fsync, rename over `path`; its signature."""
    tmp, _ = _write_temp(path, lines)
    return _commit(tmp, path)


def _fsync_dir(folder: Path) -> None:
    """Make renames inside `folder` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _save_index(folder: Path, scorer: PersistentScorer, source: dict[str, Any]) -> None:
    """Save a scorer and its source record into a temp folder, flush, rename it to `folder`."""
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=_TEMP_PREFIX, suffix=".tmp"))
    try:
        scorer.save(tmp)
        (tmp / SOURCE_FILE).write_text(json.dumps(source, sort_keys=True), encoding="utf-8")
        for path in tmp.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(tmp)
        os.replace(tmp, folder)
        _fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _clear_leftovers(directory: Path, keep: str | None) -> None:
    """Remove index folders other than `keep` and the temp files of interrupted writers.

    Only called with the writer lock held, so no other writer is midway through a save.
    """
    for path in directory.iterdir():
        name = path.name
        stale_index = _INDEX_DIR_RE.fullmatch(name) is not None and name != keep
        if stale_index or (name.startswith(".") and name.endswith(".tmp")):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()


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


def _describe(settings: BM25Settings) -> dict[str, Any]:
    """The settings as the manifest and each index folder record them."""
    return {"tokenizer": settings.tokenizer.settings(), "scoring": settings.scoring()}


def _source(digest: str, settings: BM25Settings) -> dict[str, Any]:
    """What an index folder was built from: the chunks file's sha256 and the settings."""
    return {"chunks_sha256": digest, "settings": _describe(settings)}


def _index_name(digest: str, settings: BM25Settings) -> str:
    """The index folder of one chunks file and settings."""
    key = json.dumps(_source(digest, settings), sort_keys=True).encode("utf-8")
    return f"index-{hashlib.sha256(key).hexdigest()[:16]}"


def _manifest(settings: BM25Settings) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **_describe(settings),
        "chunks_file": CHUNKS_FILE,
    }


class BM25Store:
    """A BM25 index on disk: per-document replacing writes, deterministic search, no pickle.

    With `settings` None the store adopts the settings the index was built with (defaults for
    a new index); given settings must equal the index's, or a ConfigError names `label`, the
    field and both values.

    Example::

        store = BM25Store(".ragloom/bm25", BM25Settings(stopwords="en"))
        store.write(chunks)
        hits = store.search("river bank", top_k=5)
    """

    def __init__(
        self,
        directory: str | Path,
        settings: BM25Settings | None = None,
        label: str = "BM25Store",
    ):
        self.directory = Path(directory)
        self.label = label
        self._requested = settings
        self.settings = settings or BM25Settings()
        self._lock = threading.RLock()
        self._chunks: dict[str, Chunk] = {}
        self._file_signature: tuple[int, int, int] | None = None
        self._digest: str | None = None
        self._scoring: tuple[list[Chunk], list[str], Scorer] | None = None
        self.refresh()

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_FILE

    @property
    def chunks_path(self) -> Path:
        return self.directory / CHUNKS_FILE

    def _index_folder(self) -> Path | None:
        """Where the saved index of the chunks read belongs (None: no chunks file read)."""
        if self._digest is None:
            return None
        return self.directory / _index_name(self._digest, self.settings)

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
                self._set({}, None, None)
                return
            self._check_manifest()
            digest = hashlib.sha256()
            with open(self.chunks_path, "rb") as handle:
                signature = _signature(os.fstat(handle.fileno()))
                chunks = {}
                for number, line in enumerate(handle, 1):
                    digest.update(line)
                    if not line.strip():
                        continue
                    try:
                        chunk = chunk_from_record(json.loads(line))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise ConfigError(
                            f"{self.chunks_path}:{number}: unreadable BM25 chunk record ({exc})"
                        ) from None
                    chunks[chunk.id] = chunk
            self._set(chunks, signature, digest.hexdigest())

    def _check_manifest(self) -> None:
        """Refuse an index in another format or built with other settings than requested."""
        path = self.manifest_path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{path}: missing; {self.directory} is not a ragloom BM25 index"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable BM25 manifest ({exc})") from None
        expected = _manifest(self.settings)
        for key in ("format", "format_version"):
            if data.get(key) != expected[key]:
                raise ConfigError(
                    f"{path}: {key} is {data.get(key)!r} but this ragloom reads "
                    f"{expected[key]!r}; rebuild the BM25 index (delete {self.directory})"
                )
        try:
            tokenizer = Tokenizer.from_settings(data.get("tokenizer"))
        except ConfigError as exc:
            raise ConfigError(f"{path}: the index's tokenizer: {exc}") from None
        if tokenizer is None:
            raise ConfigError(
                f"{path}: tokenizer is {data.get('tokenizer')!r}, which this ragloom cannot "
                f"reproduce (it reads {TOKENIZER_SETTINGS!r} plus optional stopwords and "
                f"stemmer); rebuild the BM25 index (delete {self.directory})"
            )
        built = {"stopwords": tokenizer.stopwords, "stemmer": tokenizer.stemmer}
        scoring = data.get("scoring")  # absent in indexes written before it was recorded
        if isinstance(scoring, dict):
            built.update({k: scoring[k] for k in ("backend", "k1", "b", "epsilon") if k in scoring})
        if self._requested is None:
            try:
                self.settings = replace(BM25Settings(), **built)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            return
        wanted = self._requested.fields()
        problems = [
            Problem(
                f"{self.label}: {name} is {wanted[name]!r} but the BM25 index in "
                f"{self.directory} was built with {name}={value!r}; writer and retriever must "
                f"agree: set {name}: {value!r}, or delete {self.directory} to rebuild the index",
                component=self.label,
                field=name,
            )
            for name, value in built.items()
            if wanted[name] != value
        ]
        if problems:
            raise ConfigError(problems)

    def _set(
        self,
        chunks: dict[str, Chunk],
        signature: tuple[int, int, int] | None,
        digest: str | None,
    ) -> None:
        self._chunks = chunks
        self._file_signature = signature
        self._digest = digest
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

    def _open_index(self, size: int) -> Scorer | None:
        """The saved index of exactly the chunks read, memory-mapped; None if there is none."""
        loader = LOADERS.get(self.settings.backend)
        folder = self._index_folder()
        if loader is None or folder is None or self._digest is None:
            return None
        try:
            source = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))
            if source != _source(self._digest, self.settings):
                return None
            scorer = loader(folder)
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None  # none saved, removed by a newer writer meanwhile, or damaged: rebuild
        return scorer if scorer.size == size else None

    def _build_scorer(self, chunks: list[Chunk]) -> Scorer:
        tokens = [self.settings.tokenizer(chunk.text) for chunk in chunks]
        return build_scorer(self.settings.backend, tokens, self.settings.params)

    def _scoring_state(self) -> tuple[list[Chunk], list[str], Scorer]:
        """The corpus in file order and its scorer: the saved index if it is current, else one
        built in memory, on first search after a (re)load."""
        with self._lock:
            self.refresh()
            if self._scoring is None:
                chunks = list(self._chunks.values())
                scorer = self._open_index(len(chunks)) or self._build_scorer(chunks)
                self._scoring = (chunks, [c.id for c in chunks], scorer)
            return self._scoring

    def search(self, query: str, top_k: int = 10) -> list[Hit]:
        """The `top_k` chunks holding a query token, best BM25 score first, ties by chunk id."""
        if top_k <= 0:
            raise ValueError(f"top_k must be greater than 0, got {top_k}")
        chunks, ids, scorer = self._scoring_state()
        tokens = self.settings.tokenizer(query)
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
        """Read the latest index, apply `change`, and save it if anything differs (or, if only
        the saved bm25s index is missing, save that: an interrupted or older writer)."""
        with self._lock, _writer_lock(self.directory):
            self.refresh()
            updated = change(dict(self._chunks))
            if updated != self._chunks:
                self._save(updated)
                return
            folder = self._index_folder()
            persists = self.settings.backend in LOADERS and self._digest is not None
            if persists and folder is not None and not folder.is_dir():
                self._write_manifest()
                chunks = list(self._chunks.values())
                self._keep_scorer(chunks, self._save_scorer(chunks, str(self._digest)))
                _clear_leftovers(self.directory, folder.name)

    def _write_manifest(self) -> None:
        manifest = _manifest(self.settings)
        try:
            current = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            current = None
        if current != manifest:
            _atomic_write(self.manifest_path, [json.dumps(manifest, indent=2, sort_keys=True)])

    def _save(self, chunks: dict[str, Chunk]) -> None:
        """Write the manifest (if needed), then the index of the new chunks, then the chunks
        (the commit), each atomically; then clear older index folders and debris."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_manifest()
        ordered = sorted(chunks.values(), key=lambda c: (c.doc_id, c.position, c.start, c.id))
        tmp, digest = _write_temp(self.chunks_path, (_dumps(chunk_to_record(c)) for c in ordered))
        try:
            scorer = self._save_scorer(ordered, digest)
        except BaseException:
            _discard(tmp)
            raise
        signature = _commit(tmp, self.chunks_path)
        self._set({c.id: c for c in ordered}, signature, digest)
        self._keep_scorer(ordered, scorer)
        folder = self._index_folder()
        _clear_leftovers(self.directory, folder.name if scorer is not None and folder else None)

    def _save_scorer(self, chunks: list[Chunk], digest: str) -> Scorer | None:
        """Build and save the index of `chunks` (a backend that persists only; writer lock)."""
        if self.settings.backend not in LOADERS or not chunks:
            return None
        scorer = self._build_scorer(chunks)
        folder = self.directory / _index_name(digest, self.settings)
        if not folder.is_dir():
            _save_index(folder, cast(PersistentScorer, scorer), _source(digest, self.settings))
        return scorer

    def _keep_scorer(self, chunks: list[Chunk], scorer: Scorer | None) -> None:
        """Search with the scorer just built instead of loading it back."""
        if scorer is not None:
            self._scoring = (chunks, [c.id for c in chunks], scorer)
