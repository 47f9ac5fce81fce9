"""Immutable BM25 segments: term postings and document lengths of one commit, in one file.

A segment is what one commit (or one merge) adds to a BM25 index, Lucene style: it is written
once, never changed, memory-mapped on read, and removed only when a merge has replaced it.
Scores are not stored: they depend on the whole index's statistics (live document count,
average length, document frequencies), which `Statistics` gathers over the live segments so
that any segment layout ranks exactly like one BM25Okapi over the live chunks.

File layout (`<name>.seg`, no pickle)::

    b"RLSEG001" | uint64 header length | header JSON | arrays, each 64-byte aligned

The header names each array's dtype, shape and offset, and lists the segment's terms in
column order. Arrays: `indptr` (int64, terms + 1), `postings` (int32 local document of each
posting, ascending per term), `freqs` (int32 term frequency), `lengths` (int32 tokens per
document), `rowids` (int64 catalogue row of each document, ascending).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO, Any

import numpy as np

from ragloom.atomic import write_atomic

MAGIC = b"RLSEG001"
SUFFIX = ".seg"
_ALIGN = 64
_ARRAYS = ("indptr", "postings", "freqs", "lengths", "rowids")


@dataclass
class Segment:
    """One segment's arrays (memory-mapped when opened from disk) and its term lookup."""

    name: str
    terms: list[str]
    indptr: np.ndarray
    postings: np.ndarray
    freqs: np.ndarray
    lengths: np.ndarray
    rowids: np.ndarray
    term_ids: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.term_ids = dict(zip(self.terms, range(len(self.terms)), strict=True))

    @property
    def size(self) -> int:
        """Documents in the segment, live or deleted."""
        return len(self.lengths)

    def postings_of(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(local documents, term frequencies) of a term, or None if no document holds it."""
        column = self.term_ids.get(term)
        if column is None:
            return None
        begin, end = int(self.indptr[column]), int(self.indptr[column + 1])
        return self.postings[begin:end], self.freqs[begin:end]

    def doc_freqs(self, live: np.ndarray | None) -> np.ndarray:
        """Live documents holding each term (every term has at least one posting)."""
        if live is None:
            return np.diff(self.indptr)
        if not len(self.postings):
            return np.zeros(len(self.terms), dtype=np.int64)
        return np.add.reduceat(live[self.postings].astype(np.int64), self.indptr[:-1])


def _numbering(terms: dict[str, None]) -> dict[str, int]:
    """Each term's column: its position in `terms` (first-use order)."""
    return dict(zip(terms, range(len(terms)), strict=True))


def build_segment(name: str, tokens: Sequence[Sequence[str]], rowids: Sequence[int]) -> Segment:
    """A segment of tokenized documents (`rowids` ascending), terms in order of first use."""
    lengths = np.fromiter((len(t) for t in tokens), np.int64, len(tokens))
    words = list(chain.from_iterable(tokens))
    vocab = _numbering(dict.fromkeys(words))
    flat = np.fromiter(map(vocab.__getitem__, words), np.int64, len(words))
    docs = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
    return segment_from_ids(name, list(vocab), flat, docs, lengths, rowids)


def segment_from_ids(
    name: str,
    terms: list[str],
    term_ids: np.ndarray,
    docs: np.ndarray,
    lengths: np.ndarray,
    rowids: Iterable[int],
) -> Segment:
    """A segment from one (term id, document) pair per token occurrence (`docs` ascending,
    `lengths` the tokens per document); unused terms are dropped."""
    n_docs = len(lengths)
    keys, tf = np.unique(term_ids * max(n_docs, 1) + docs, return_counts=True)
    columns, postings = np.divmod(keys, max(n_docs, 1))
    used = np.bincount(columns, minlength=len(terms))
    if len(terms) and not used.all():
        keep = used > 0
        columns = (np.cumsum(keep) - 1)[columns]
        terms = [term for term, kept in zip(terms, keep.tolist(), strict=True) if kept]
        used = used[keep]
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(used, out=indptr[1:])
    return Segment(
        name=name,
        terms=terms,
        indptr=indptr,
        postings=postings.astype(np.int32),
        freqs=tf.astype(np.int32),
        lengths=lengths.astype(np.int32),
        rowids=np.fromiter(rowids, np.int64, n_docs),
    )


def merge_segments(name: str, parts: Sequence[tuple[Segment, np.ndarray | None]]) -> Segment:
    """One segment holding the live documents of `parts` (segment, live mask or None = all),
    ordered by rowid; deleted documents are dropped for good.

    No sort of the postings: each part's live postings of a term are copied as one block into
    the term's range of the output (scoring never needs a term's postings in order), so a
    merge costs a few linear passes and about the output's size in memory.
    """
    vocab = _numbering(dict.fromkeys(chain.from_iterable(seg.terms for seg, _ in parts)))
    keeps = [np.ones(seg.size, bool) if live is None else live for seg, live in parts]
    rowids = np.concatenate(
        [np.asarray(seg.rowids)[keep] for (seg, _), keep in zip(parts, keeps, strict=True)]
        or [np.zeros(0, np.int64)]
    )
    order = np.argsort(rowids, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    # Per part: each term's global column and its live posting count; then the output layout.
    columns, counts = [], []
    for (segment, live), keep in zip(parts, keeps, strict=True):
        columns.append(
            np.fromiter(map(vocab.__getitem__, segment.terms), np.int64, len(segment.terms))
        )
        counts.append(segment.doc_freqs(None if live is None else keep))
    per_column = np.zeros(len(vocab), dtype=np.int64)
    for column, count in zip(columns, counts, strict=True):
        per_column[column] += count
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(per_column, out=indptr[1:])
    postings = np.empty(int(indptr[-1]), dtype=np.int32)
    freqs = np.empty(int(indptr[-1]), dtype=np.int32)
    filled = indptr[:-1].copy()
    offset = 0
    for (segment, live), keep, column, count in zip(parts, keeps, columns, counts, strict=True):
        if not keep.any():  # nothing of this part survives (and `rank` may be empty)
            continue
        local = np.asarray(segment.postings)
        alive = None if live is None else keep[local]
        new_local = rank[offset + np.cumsum(keep) - 1]  # a deleted document's entry is unused
        offset += int(keep.sum())
        starts = np.zeros(len(count) + 1, dtype=np.int64)
        np.cumsum(count, out=starts[1:])
        destination = np.repeat(filled[column] - starts[:-1], count) + np.arange(starts[-1])
        filled[column] += count
        source = local if alive is None else local[alive]
        postings[destination] = new_local[source]
        freqs[destination] = np.asarray(segment.freqs) if alive is None else segment.freqs[alive]
    lengths = np.concatenate(
        [np.asarray(seg.lengths)[keep] for (seg, _), keep in zip(parts, keeps, strict=True)]
        or [np.zeros(0, np.int32)]
    )
    # Terms that only deleted documents held disappear; the rest keep first-use order.
    used = per_column > 0
    terms = list(vocab)
    if not used.all():
        terms = [term for term, kept in zip(terms, used.tolist(), strict=True) if kept]
        indptr = np.concatenate([[0], indptr[1:][used]])
    return Segment(
        name=name,
        terms=terms,
        indptr=indptr,
        postings=postings,
        freqs=freqs,
        lengths=lengths[order].astype(np.int32),
        rowids=rowids[order],
    )


def save_segment(segment: Segment, directory: Path) -> Path:
    """Write `segment` as `<directory>/<name>.seg`, atomically (`ragloom.atomic`)."""
    arrays = {key: np.ascontiguousarray(getattr(segment, key)) for key in _ARRAYS}
    layout: dict[str, Any] = {}
    offset = 0
    for key, array in arrays.items():
        layout[key] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
        offset += -(-array.nbytes // _ALIGN) * _ALIGN
    header = json.dumps({"terms": segment.terms, "arrays": layout}, ensure_ascii=False)
    head = header.encode("utf-8")
    start = -(-(len(MAGIC) + 8 + len(head)) // _ALIGN) * _ALIGN
    path = directory / f"{segment.name}{SUFFIX}"

    def write(handle: IO[bytes]) -> None:
        handle.write(MAGIC + len(head).to_bytes(8, "little") + head)
        for key, array in arrays.items():
            handle.seek(start + layout[key]["offset"])
            handle.write(array.tobytes())
        handle.truncate(start + offset)

    write_atomic(path, write)
    return path


def open_segment(path: Path) -> Segment:
    """Memory-map a saved segment (ValueError if the file is not one)."""
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path}: not a ragloom BM25 segment")
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size).decode("utf-8"))
    start = -(-(len(MAGIC) + 8 + size) // _ALIGN) * _ALIGN
    arrays = {}
    for key in _ARRAYS:
        spec = header["arrays"][key]
        shape = tuple(spec["shape"])
        if math.prod(shape) == 0:
            arrays[key] = np.zeros(shape, dtype=np.dtype(spec["dtype"]))
            continue
        arrays[key] = np.memmap(
            path,
            dtype=np.dtype(spec["dtype"]),
            mode="r",
            offset=start + spec["offset"],
            shape=shape,
        )
    return Segment(name=path.name.removesuffix(SUFFIX), terms=list(header["terms"]), **arrays)


def live_mask(segment: Segment, tombstones: np.ndarray) -> np.ndarray | None:
    """Which of the segment's documents are live, given all deleted rowids (sorted); None
    when none of them is deleted."""
    if not len(tombstones) or not segment.size:
        return None
    rowids = segment.rowids
    lo, hi = np.searchsorted(tombstones, [rowids[0], rowids[-1] + 1])
    candidates = tombstones[lo:hi]
    if not len(candidates):
        return None
    where = np.searchsorted(rowids, candidates)
    dead = where[rowids[np.minimum(where, len(rowids) - 1)] == candidates]
    if not len(dead):
        return None
    live = np.ones(segment.size, dtype=bool)
    live[dead] = False
    return live


@dataclass
class Statistics:
    """BM25Okapi's corpus statistics over the live documents of a set of segments."""

    n_docs: int
    total_length: int
    doc_freqs: dict[str, int]
    #: `epsilon * mean idf` over every live term: the idf of a term in over half the corpus.
    idf_floor: float

    @property
    def avgdl(self) -> float:
        return self.total_length / self.n_docs if self.n_docs else 0.0

    def idf(self, term: str) -> float:
        """BM25Okapi's idf of a term (0 for a term no live document holds)."""
        df = self.doc_freqs.get(term)
        if not df:
            return 0.0
        value = math.log(self.n_docs - df + 0.5) - math.log(df + 0.5)
        return self.idf_floor if value < 0 else value


def gather_statistics(
    parts: Iterable[tuple[Segment, np.ndarray | None]], epsilon: float
) -> Statistics:
    """Document count, total length, per-term document frequencies and the idf floor.

    The floor is `epsilon` times the mean of every live term's raw idf, as BM25Okapi computes
    it; the sum is `math.fsum` (exactly rounded, so independent of segment order), where
    BM25Okapi adds left to right: the two agree to the last bit or two.
    """
    n_docs = total = 0
    doc_freqs: dict[str, int] = {}
    for segment, live in parts:
        lengths = np.asarray(segment.lengths)
        if live is None:
            n_docs += segment.size
            total += int(lengths.sum(dtype=np.int64))
        else:
            n_docs += int(live.sum())
            total += int(lengths[live].sum(dtype=np.int64))
        get = doc_freqs.get
        for term, df in zip(segment.terms, segment.doc_freqs(live).tolist(), strict=True):
            if df:
                doc_freqs[term] = get(term, 0) + df
    floor = 0.0
    if doc_freqs:
        df = np.fromiter(doc_freqs.values(), np.float64, len(doc_freqs))
        raw = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        floor = epsilon * (math.fsum(raw.tolist()) / len(raw))
    return Statistics(n_docs, total, doc_freqs, floor)
