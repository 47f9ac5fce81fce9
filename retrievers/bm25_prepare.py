"""Chunk records and prepared segments: the part of a BM25 write that needs no catalogue.

Preparing tokenizes a batch of chunks, builds their segment (rowids 0..n-1, made absolute
when the segment is registered) and saves it into the store's `incoming/` folder, so any
process that sees the index directory can do it: Ray Data's encoder actors prepare the BM25
segments of their own batches in parallel, and the single writer only registers them (one
O(batch) SQLite transaction each). A prepared segment is plain data (names, ids, JSON
records): nothing is pickled to disk.

Example::

    prepared = prepare_segment(BM25Settings(), chunks, Path("idx/bm25"))
    store.register([prepared], delete_documents=[...])
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.retrievers.bm25_scoring import BM25Settings
from ragloom.retrievers.bm25_segments import save_segment, segment_from_ids
from ragloom.types import Chunk, chunk_to_record, json_default

#: Where prepared segments wait for the writer to register them (inside the store folder).
INCOMING = "incoming"


def dumps(record: dict[str, Any]) -> str:
    """A record as the catalogue stores it (sorted keys: equal chunks give equal text)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, default=json_default)


@dataclass(frozen=True)
class PreparedSegment:
    """A saved segment awaiting registration, with the catalogue rows of its chunks (in
    segment order: row n is the segment's document n)."""

    name: str
    chunk_ids: list[str]
    doc_ids: list[str]
    records: list[str]

    @property
    def file_name(self) -> str:
        return f"{self.name}.seg"


def ordered_chunks(chunks: Iterable[Chunk]) -> list[Chunk]:
    """One chunk per id (the last one given), in (document, position, start, id) order."""
    unique = {chunk.id: chunk for chunk in chunks}
    return sorted(unique.values(), key=lambda c: (c.doc_id, c.position, c.start, c.id))


def prepare_segment(
    settings: BM25Settings, chunks: Iterable[Chunk], directory: Path
) -> PreparedSegment:
    """Tokenize `chunks`, save their segment into `<directory>/incoming/` (temp + fsync +
    rename), and return what the writer needs to register it."""
    ordered = ordered_chunks(chunks)
    terms, term_ids, docs = settings.tokenizer.tokenize_corpus([c.text for c in ordered])
    lengths = np.bincount(docs, minlength=len(ordered))
    name = f"p{uuid.uuid4().hex}"
    segment = segment_from_ids(name, terms, term_ids, docs, lengths, range(len(ordered)))
    folder = Path(directory) / INCOMING
    folder.mkdir(parents=True, exist_ok=True)
    save_segment(segment, folder)
    return PreparedSegment(
        name=name,
        chunk_ids=[c.id for c in ordered],
        doc_ids=[c.doc_id for c in ordered],
        records=[dumps(chunk_to_record(c)) for c in ordered],
    )
