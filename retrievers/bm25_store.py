"""A persistent BM25 index whose commits cost O(batch): immutable segments plus a catalogue.

Layout of the store directory (by default `<index_dir>/bm25/`)::

    manifest.json       {"format": "ragloom-bm25", "format_version": 2, "tokenizer": {...},
                         "scoring": {"backend", "k1", "b", "epsilon"}}
    catalogue.sqlite    chunk records, live segments, tombstones (`bm25_catalog`)
    s<gen>-<id>.seg     immutable segments: postings and lengths (`bm25_segments`)

A write tokenizes only its own chunks, saves them as a new segment file (temp + fsync +
rename), then commits the segment, the chunk rows and the tombstones of the chunks it
replaces in one SQLite transaction. A crash before that transaction leaves an unregistered
segment file, which the next writer removes; after it, the commit is whole. Readers load the
segment list of one committed generation and memory-map its segments, so a query process
holds postings pages and a few statistics, not the corpus; chunk texts are read by rowid for
the hits returned. Scores use the whole index's statistics over live chunks (`Statistics`), so
the ranking equals one rank-bm25 `BM25Okapi` over the live chunks whatever the segment layout.
The tiered merge policy (`bm25_merge`) keeps the number of segments logarithmic. One writer at
a time (a file lock on the directory); readers never wait for it. Never pickle.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from ragloom.atomic import fsync_dir, write_json_atomic
from ragloom.errors import ConfigError
from ragloom.filters import Filter, as_filter
from ragloom.jsonl import read_jsonl
from ragloom.retrievers import bm25_catalog as catalog
from ragloom.retrievers.bm25_filter import allowed_rowids
from ragloom.retrievers.bm25_manifest import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    checked_settings,
    manifest_record,
    read_manifest,
)
from ragloom.retrievers.bm25_merge import pick_merge
from ragloom.retrievers.bm25_prepare import (
    INCOMING,
    PreparedSegment,
    prepare_segment,
)
from ragloom.retrievers.bm25_scoring import (
    TOKENIZER_SETTINGS,
    BM25Settings,
    RankBM25Scorer,
    tokenize,
)
from ragloom.retrievers.bm25_segments import (
    SUFFIX,
    Segment,
    Statistics,
    gather_statistics,
    live_mask,
    merge_segments,
    open_segment,
    save_segment,
)
from ragloom.stored_chunks import unread_chunks
from ragloom.types import Chunk, Hit, chunk_from_record, chunk_to_record

__all__ = [
    "TOKENIZER_SETTINGS",
    "BM25Store",
    "PreparedSegment",
    "chunk_from_record",
    "chunk_to_record",
    "tokenize",
]

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
#: Scores of a query term's postings are cached from this many postings on, up to this many
#: bytes per open store (common terms are the expensive ones, and the ones queries repeat).
TERM_CACHE_MIN_POSTINGS = 20_000
TERM_CACHE_BYTES = 256 * 2**20
#: How much older than the store a prepared segment must be to count as an interrupted run's.
STALE_MARGIN_S = 5.0
#: Filters whose allowed rows a store keeps (per generation), most recently used last.
FILTER_CACHE_SIZE = 16
#: Files of format 1 (one chunks file and a whole-index bm25s folder), migrated on open.
LEGACY_CHUNKS_FILE = "chunks.jsonl"

#: A view of the index: each live segment with its live mask (None: nothing deleted).
View = list[tuple[Segment, np.ndarray | None]]


class BM25Store:
    """A BM25 index on disk: per-document replacing writes, deterministic search, no pickle.

    With `settings` None the store adopts the settings the index was built with (defaults for
    a new index); given settings must equal the index's, or a ConfigError names `label`, the
    field and both values. Opening never creates anything: only a write does.

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
        self._db: sqlite3.Connection | None = None
        self._generation = -1
        # The tombstones as of `_dead_generation`, kept up to date by this process's own
        # commits, so a writer does not read them all back after each (a re-index of 1 % of a
        # large index builds up tens of thousands before a merge reclaims them).
        self._dead: np.ndarray | None = None
        self._dead_generation = -1
        self._open: dict[str, Segment] = {}
        self._view: View = []
        self._statistics: Statistics | None = None
        self._norms: dict[str, np.ndarray] = {}
        self._term_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._term_cache_bytes = 0
        self._reference: tuple[list[int], list[str], RankBM25Scorer] | None = None
        self._allowed: OrderedDict[str, np.ndarray] = OrderedDict()
        # One lock object per store: it is reentrant, so a migration inside a write is safe.
        self._file_lock = FileLock(self.directory / LOCK_FILE)
        #: Prepared segments older than this are an interrupted run's: the writer removes them.
        self._opened_at = time.time()
        self.refresh()

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_FILE

    @property
    def catalogue_path(self) -> Path:
        return self.directory / catalog.CATALOGUE_FILE

    # -- opening ----------------------------------------------------------------------------

    def _connection(self, create: bool = False) -> sqlite3.Connection | None:
        """The catalogue connection; None while the index does not exist (unless `create`)."""
        if self._db is None:
            if not create and not self.catalogue_path.exists():
                return None
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = catalog.connect(self.catalogue_path)
            if create:
                catalog.create(self._db)
        return self._db

    def _read_manifest(self) -> dict[str, Any] | None:
        return read_manifest(self.manifest_path)

    def _check_manifest(self, data: dict[str, Any]) -> None:
        """Adopt the index's settings, or refuse requested ones that differ (ConfigError)."""
        self.settings = checked_settings(
            self.manifest_path, data, self._requested, self.label, self.directory
        )

    # -- reading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Load the latest committed generation if it changed since the last look."""
        with self._lock:
            if self._generation < 0:
                manifest = self._read_manifest()
                if manifest is None:
                    if self.catalogue_path.exists():
                        raise ConfigError(
                            f"{self.manifest_path}: missing; {self.directory} is not a ragloom "
                            f"BM25 index"
                        )
                    return
                self._check_manifest(manifest)
                if manifest.get("format_version") == 1:
                    self._migrate_legacy()
            db = self._connection()
            if db is None:
                return
            if catalog.meta(db, "generation") != self._generation:
                self._load(db)

    def _load(self, db: sqlite3.Connection) -> None:
        """Open the segments of the latest generation (retrying if a merge removed one)."""
        for _ in range(100):
            db.execute("BEGIN")
            try:
                generation = catalog.meta(db, "generation")
                names = catalog.segments(db)
                if self._dead is None or self._dead_generation != generation:
                    self._dead = np.asarray(catalog.tombstones(db), dtype=np.int64)
                    self._dead_generation = generation
                dead = self._dead
            finally:
                db.execute("COMMIT")
            try:
                opened = {name: self._segment(name, base) for name, _, base in names}
            except FileNotFoundError:
                continue  # merged away since the list was read: read it again
            self._open = opened
            self._view = [(seg, live_mask(seg, dead)) for seg in opened.values()]
            self._generation = generation
            self._statistics = None
            self._reference = None
            self._allowed.clear()
            return
        raise ConfigError(f"{self.directory}: the BM25 segments keep changing; retry the query")

    def _segment(self, name: str, base: int) -> Segment:
        """An open segment, memory-mapping it on first use (a prepared segment's rowids count
        from `base`); a damaged file is a clear error."""
        if name in self._open:
            return self._open[name]
        path = self.directory / f"{name}{SUFFIX}"
        try:
            segment = open_segment(path)
            if base:
                segment.rowids = np.asarray(segment.rowids) + base
            return segment
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: damaged BM25 segment ({exc}); the index cannot be read: delete "
                f"{self.directory.parent} and run `ragloom index` again"
            ) from None

    @property
    def segment_count(self) -> int:
        """Live segments (each merge lowers it; queries visit each)."""
        self.refresh()
        return len(self._view)

    def count(self) -> int:
        """Number of chunks in the index."""
        self.refresh()
        db = self._connection()
        return catalog.meta(db, "live") if db is not None else 0

    def chunk_ids(self) -> list[str]:
        """Ids of every indexed chunk, sorted."""
        db = self._connection()
        if db is None:
            return []
        with self._lock:
            return [str(i) for (i,) in db.execute("SELECT id FROM chunks ORDER BY id")]

    def doc_ids(self) -> list[str]:
        """Ids of every indexed document, sorted."""
        db = self._connection()
        if db is None:
            return []
        with self._lock:
            query = "SELECT DISTINCT doc_id FROM chunks ORDER BY doc_id"
            return [str(i) for (i,) in db.execute(query)]

    def iter_chunks(self, batch: int = 5000) -> Iterator[Chunk]:
        """Every indexed chunk in commit order, read in slices (never all at once)."""
        db = self._connection()
        if db is None:
            return
        last = 0
        while True:
            with self._lock:
                rows = db.execute(
                    "SELECT rowid, record FROM chunks WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (last, batch),
                ).fetchall()
            if not rows:
                return
            for rowid, record in rows:
                last = int(rowid)
                yield chunk_from_record(json.loads(record))

    def _stats(self) -> Statistics:
        if self._statistics is None:
            self._statistics = gather_statistics(self._view, self.settings.epsilon)
            self._norms = {}
            self._term_cache.clear()
            self._term_cache_bytes = 0
        return self._statistics

    def _allowed_rows(self, node: Filter) -> np.ndarray:
        """Sorted rowids of the chunks passing `node` (`bm25_filter`: one SQL pass over the
        catalogue), kept until the next commit."""
        key = repr(node)  # not the node: `1 == True` would share an entry
        allowed = self._allowed.pop(key, None)
        if allowed is None:
            db = self._connection()
            assert db is not None
            allowed = allowed_rowids(db, node)
            while len(self._allowed) >= FILTER_CACHE_SIZE:
                self._allowed.popitem(last=False)
        self._allowed[key] = allowed
        return allowed

    def _segment_candidates(
        self, tokens: list[str], top_k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rowids) of every chunk that may be in the top k: BM25Okapi's operations,
        in its order, per posting, with the index's global statistics; only rowids in
        `allowed` (sorted) when given, so a filter applies before the cut."""
        stats = self._stats()
        k1 = self.settings.k1
        idf = {term: stats.idf(term) for term in set(tokens)}
        found_scores, found_rowids = [], []
        for segment, live in self._view:
            acc: np.ndarray | None = None
            matched = np.zeros(0, dtype=bool)
            rarest: np.ndarray | None = None
            for term in tokens:
                postings = segment.postings_of(term)
                if postings is None:
                    continue
                if acc is None:
                    acc = np.zeros(segment.size, dtype=np.float64)
                    matched = np.zeros(segment.size, dtype=bool)
                    norm = self._norm(segment, stats)
                docs, freqs = postings
                acc[docs] += self._term_scores(segment, term, idf[term], freqs, norm[docs], k1)
                matched[docs] = True
                if rarest is None or len(docs) < len(rarest):
                    rarest = docs
            if acc is None:
                continue
            if live is not None:
                matched &= live
            if allowed is not None:
                matched &= np.isin(np.asarray(segment.rowids), allowed, assume_unique=True)
            picked = _best(_contenders(acc, matched, rarest, top_k), acc, top_k)
            found_scores.append(acc[picked])
            found_rowids.append(np.asarray(segment.rowids)[picked])
        if not found_scores:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        return np.concatenate(found_scores), np.concatenate(found_rowids)

    def _term_scores(
        self,
        segment: Segment,
        term: str,
        idf: float,
        freqs: np.ndarray,
        norm: np.ndarray,
        k1: float,
    ) -> np.ndarray:
        """A term's BM25Okapi score in each of its documents, `idf * (tf * (k1 + 1) / (tf +
        norm))`; a long postings list's scores are cached (by bytes, least recently used
        first out) until the statistics change: common query terms cost one addition."""
        key = (segment.name, term)
        cached = self._term_cache.pop(key, None)
        if cached is not None:
            self._term_cache[key] = cached  # most recently used last
            return cached
        tf = freqs.astype(np.float64)
        scores = idf * (tf * (k1 + 1) / (tf + norm))
        if len(scores) >= TERM_CACHE_MIN_POSTINGS:
            self._term_cache[key] = scores
            self._term_cache_bytes += scores.nbytes
            while self._term_cache_bytes > TERM_CACHE_BYTES:
                _, dropped = self._term_cache.popitem(last=False)
                self._term_cache_bytes -= dropped.nbytes
        return scores

    def _norm(self, segment: Segment, stats: Statistics) -> np.ndarray:
        """BM25Okapi's length normalisation `k1 * (1 - b + b * dl / avgdl)` of each document
        (the same operations, so the same floats), kept until the statistics change."""
        norm = self._norms.get(segment.name)
        if norm is None:
            k1, b = self.settings.k1, self.settings.b
            lengths = np.asarray(segment.lengths, dtype=np.int64)
            norm = self._norms[segment.name] = k1 * (1 - b + b * lengths / stats.avgdl)
        return norm

    def _reference_candidates(
        self, tokens: list[str], top_k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The same from rank-bm25's BM25Okapi over every live chunk (backend rank_bm25)."""
        if self._reference is None:
            rowids, ids, corpus = [], [], []
            db = self._connection()
            assert db is not None
            with self._lock:
                rows = db.execute("SELECT rowid, id, record FROM chunks ORDER BY rowid")
                for rowid, chunk_id, record in rows:
                    rowids.append(int(rowid))
                    ids.append(str(chunk_id))
                    corpus.append(self.settings.tokenizer(json.loads(record)["text"]))
            scorer = RankBM25Scorer(corpus, self.settings.params)
            self._reference = (rowids, ids, scorer)
        rowids, _, scorer = self._reference
        scores = scorer.scores(tokens)
        eligible = scorer.matches(tokens)
        if allowed is not None:
            eligible &= np.isin(np.asarray(rowids, dtype=np.int64), allowed, assume_unique=True)
        picked = _best(np.flatnonzero(eligible), scores, top_k)
        return scores[picked], np.asarray(rowids, dtype=np.int64)[picked]

    def search(
        self, query: str, top_k: int = 10, where: Filter | dict[str, Any] | None = None
    ) -> list[Hit]:
        """The `top_k` chunks holding a query token, best BM25 score first, ties by chunk id;
        with `where` (`ragloom.filters`, a tree or its JSON), the best of the chunks passing
        it (masked before the cut, so none is lost to chunks the filter drops)."""
        node = as_filter(where)
        tokens = self.settings.tokenizer(query)
        if not tokens:
            return []
        for _ in range(10):
            with self._lock:
                self.refresh()
                db = self._connection()
                if db is None or not self._view:
                    return []
                allowed = None if node is None else self._allowed_rows(node)
                if allowed is not None and not len(allowed):
                    return []
                if self.settings.backend == "rank_bm25":
                    scores, rowids = self._reference_candidates(tokens, top_k, allowed)
                else:
                    scores, rowids = self._segment_candidates(tokens, top_k, allowed)
                picked = _best(np.arange(len(scores)), scores, top_k)
                found = catalog.chunk_ids(db, rowids[picked].tolist())
                if len(found) == len(picked):
                    ranked = sorted(
                        zip(scores[picked].tolist(), rowids[picked].tolist(), strict=True),
                        key=lambda pair: (-pair[0], found[pair[1]]),
                    )[:top_k]
                    ids = [found[rowid] for _, rowid in ranked]
                    chunks = unread_chunks(ids, self.read, functools.partial(self._read, db))
                    return [
                        Hit(chunk=chunk, score=score)
                        for chunk, (score, _) in zip(chunks, ranked, strict=True)
                    ]
                self._generation = -1  # a newer commit deleted a hit meanwhile: look again
        raise ConfigError(f"{self.directory}: the BM25 index keeps changing; retry the query")

    def read(self, ids: list[str]) -> dict[str, Chunk]:
        """The stored chunks with these ids (an id not stored is left out)."""
        with self._lock:
            db = self._connection()
            return {} if db is None else self._read(db, ids)

    @staticmethod
    def _read(db: sqlite3.Connection, ids: list[str]) -> dict[str, Chunk]:
        records = catalog.records_of_chunks(db, ids) if ids else {}
        return {i: chunk_from_record(json.loads(record)) for i, record in records.items()}

    # -- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """Hold the directory's writer lock and the catalogue (created, with its manifest)."""
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._file_lock:
                manifest = self._read_manifest()
                if manifest is None:
                    write_json_atomic(self.manifest_path, manifest_record(self.settings))
                else:
                    self._check_manifest(manifest)
                    if manifest.get("format_version") == 1:
                        self._migrate_legacy()
                db = self._connection(create=True)
                assert db is not None
                catalog.create(db)
                self._clear_debris(db)
                yield db
                self._merge(db)

    def write(self, chunks: Iterable[Chunk], delete_documents: Iterable[str] = ()) -> int:
        """Add chunks, first dropping every stored chunk of their documents and of
        `delete_documents`, in one commit; the number written.

        Writing the same chunks twice changes nothing (no new segment), and an edited document
        never leaves stale chunks behind.
        """
        incoming = list(chunks)
        doomed = sorted(set(delete_documents))
        if not incoming and (not doomed or self._read_manifest() is None):
            return 0
        with self._writing() as db:
            prepared = (
                [prepare_segment(self.settings, incoming, self.directory)] if incoming else []
            )
            self._register(db, prepared, doomed)
        return len(prepared[0].chunk_ids) if prepared else 0

    def delete_documents(self, doc_ids: Iterable[str]) -> int:
        """Remove every chunk of the given documents; the number of chunks removed."""
        doomed = sorted(set(doc_ids))
        if not doomed or self._read_manifest() is None:
            return 0
        with self._writing() as db:
            return self._register(db, [], doomed)

    def register(
        self, prepared: Sequence[PreparedSegment], delete_documents: Iterable[str] = ()
    ) -> int:
        """Commit segments prepared elsewhere (`prepare_segment`, e.g. by Ray Data workers):
        every stored chunk of their documents and of `delete_documents` is replaced. Returns
        the number of chunks written."""
        with self._writing() as db:
            self._register(db, prepared, sorted(set(delete_documents)))
        return sum(len(p.chunk_ids) for p in prepared)

    def _register(
        self, db: sqlite3.Connection, prepared: Sequence[PreparedSegment], delete: Sequence[str]
    ) -> int:
        """One transaction: tombstone the documents' old chunks, move the prepared segments in
        and add their rows. Returns the number of chunks removed; a no-op if nothing changes."""
        ids = [i for p in prepared for i in p.chunk_ids]
        records = [r for p in prepared for r in p.records]
        doc_ids = sorted({d for p in prepared for d in p.doc_ids} | set(delete))
        db.execute("BEGIN IMMEDIATE")
        try:
            old = catalog.rows_of_documents(db, doc_ids)
            old_ids = {chunk_id for _, chunk_id, _, _ in old}
            moved = catalog.rows_of_chunks(db, [i for i in ids if i not in old_ids])
            same = not moved and sorted((i, r) for _, i, _, r in old) == sorted(
                zip(ids, records, strict=True)
            )
            if same:
                db.execute("ROLLBACK")
                self._discard(prepared)
                return 0
            doomed = [rowid for rowid, _, _, _ in old] + moved
            catalog.delete_rows(db, doomed)
            base = catalog.meta(db, "next_rowid")
            moved_in = False
            for part in prepared:
                if not part.chunk_ids:
                    continue
                os.replace(
                    self.directory / INCOMING / part.file_name, self.directory / part.file_name
                )
                moved_in = True
                rows = range(base, base + len(part.chunk_ids))
                catalog.insert_rows(
                    db, zip(rows, part.chunk_ids, part.doc_ids, part.records, strict=True)
                )
                db.execute(
                    "INSERT INTO segments VALUES (?, ?, ?)", (part.name, len(part.chunk_ids), base)
                )
                base += len(part.chunk_ids)
            if moved_in:  # the renames must outlive a power loss the catalogue survives
                fsync_dir(self.directory)
            catalog.set_meta(db, "next_rowid", base)
            catalog.set_meta(db, "live", catalog.meta(db, "live") + len(ids) - len(doomed))
            before = catalog.meta(db, "generation")
            catalog.set_meta(db, "generation", before + 1)
            db.execute("COMMIT")
            self._track_dead(before, before + 1, added=doomed)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._discard([p for p in prepared if not p.chunk_ids])
        return len(doomed)

    def _track_dead(
        self, before: int, after: int, added: Sequence[int] = (), removed: Sequence[int] = ()
    ) -> None:
        """Apply this process's commit (generation `before` -> `after`) to the cached
        tombstones; if another commit came between, forget them (read again when needed)."""
        if self._dead is None or self._dead_generation != before:
            self._dead = None
            return
        dead = self._dead
        if len(added):
            dead = np.union1d(dead, np.asarray(added, dtype=np.int64))
        if len(removed):
            dead = np.setdiff1d(dead, np.asarray(removed, dtype=np.int64), assume_unique=True)
        self._dead, self._dead_generation = dead, after

    def _discard(self, prepared: Iterable[PreparedSegment]) -> None:
        for part in prepared:
            with contextlib.suppress(OSError):
                (self.directory / INCOMING / part.file_name).unlink()

    def _merge(self, db: sqlite3.Connection) -> None:
        """Run the merges the tiered policy asks for, each committed atomically."""
        while True:
            self._load(db)
            sizes = [
                (seg.name, seg.size, 0 if live is None else seg.size - int(live.sum()))
                for seg, live in self._view
            ]
            names = pick_merge(sizes)
            if not names:
                return
            live_of = {seg.name: live for seg, live in self._view}
            parts = [(self._open[name], live_of[name]) for name in names]
            generation = catalog.meta(db, "generation") + 1
            merged = merge_segments(_segment_name(generation), parts)
            if merged.size:
                save_segment(merged, self.directory)
            dropped = [
                int(rowid)
                for seg, live in parts
                if live is not None
                for rowid in np.asarray(seg.rowids)[~live]
            ]
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("DELETE FROM segments WHERE name = ?", ((n,) for n in names))
                if merged.size:
                    db.execute("INSERT INTO segments VALUES (?, ?, 0)", (merged.name, merged.size))
                catalog.forget_tombstones(db, dropped)
                catalog.set_meta(db, "generation", generation)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            self._track_dead(generation - 1, generation, removed=dropped)
            for name in names:
                self._open.pop(name, None)
                with contextlib.suppress(OSError):
                    (self.directory / f"{name}{SUFFIX}").unlink()

    def _clear_debris(self, db: sqlite3.Connection) -> None:
        """Remove segment files no commit refers to, temp files, and segments prepared before
        this store was opened (by an interrupted run; writer lock held)."""
        live = {f"{name}{SUFFIX}" for name, _, _ in catalog.segments(db)}
        for path in self.directory.iterdir():
            name = path.name
            orphan = name.endswith(SUFFIX) and name not in live
            if orphan or (name.startswith(".") and name.endswith(".tmp")):
                with contextlib.suppress(OSError):
                    path.unlink()
        # By modification time, with a margin: file times come from the kernel's coarse clock
        # (a few ms behind time.time()), and an encoder actor on another node writes into a
        # shared folder with that node's clock. A stale file younger than that waits a run.
        for path in (self.directory / INCOMING).glob("*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < self._opened_at - STALE_MARGIN_S:
                    path.unlink()

    def _migrate_legacy(self) -> None:
        """Turn a format-1 store (chunks.jsonl + an index-* folder) into segments, once."""
        legacy = self.directory / LEGACY_CHUNKS_FILE
        with self._file_lock:
            manifest = self._read_manifest()
            if manifest is None or manifest.get("format_version") != 1:
                return  # another process migrated it meanwhile
            logger.info("migrating the BM25 index in %s to format %d", self.directory, 2)
            db = self._connection(create=True)
            assert db is not None
            catalog.create(db)
            self._clear_debris(db)
            if legacy.exists():
                chunks = [chunk_from_record(line.record) for line in read_jsonl(legacy)]
                if chunks:
                    self._register(db, [prepare_segment(self.settings, chunks, self.directory)], ())
            write_json_atomic(self.manifest_path, {**manifest, "format_version": FORMAT_VERSION})
            legacy.unlink(missing_ok=True)
            for path in self.directory.glob("index-*"):
                if path.is_dir():
                    for inner in path.iterdir():
                        inner.unlink(missing_ok=True)
                    with contextlib.suppress(OSError):
                        path.rmdir()


def _segment_name(generation: int) -> str:
    """A new segment's name: sorts in creation order, unique even across crashed writers."""
    return f"m{generation:012d}-{uuid.uuid4().hex[:8]}"


def _contenders(
    scores: np.ndarray, eligible: np.ndarray, sample: np.ndarray | None, top_k: int
) -> np.ndarray:
    """The eligible entries scoring at least a lower bound of the k-th best score: the k-th
    best among `sample` (the rarest query term's documents, likely the best ones). One
    vectorised comparison instead of a selection over every matching entry."""
    if sample is not None:
        sample = np.asarray(sample)[eligible[sample]]
    if sample is None or len(sample) < top_k:
        return np.flatnonzero(eligible)
    values = scores[sample]
    bound = np.partition(values, len(values) - top_k)[len(values) - top_k]
    return np.flatnonzero((scores >= bound) & eligible)


def _best(candidates: np.ndarray, scores: np.ndarray, top_k: int) -> np.ndarray:
    """The candidates that may be in the top k: all scoring at least the k-th best (ties kept,
    so the chunk-id tie-break sees every one of them)."""
    if len(candidates) <= top_k:
        return candidates
    values = scores[candidates]
    kth = np.partition(values, len(values) - top_k)[len(values) - top_k]
    return candidates[values >= kth]
