"""The segmented BM25 index ranks SciFact exactly like rank-bm25 (whole documents, first 100 test
claims) when written in seven commits (seven segments, global statistics), also after the
store is reopened from its memory-mapped segments."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ragloom.retrievers.bm25_scoring import BM25Settings
from ragloom.retrievers.bm25_store import BM25Store
from ragloom.types import Chunk, Document, Hit

SCIFACT = Path(__file__).parents[2].parent / "shared/datasets/scifact"
QUERIES = 100


def _documents() -> list[Chunk]:
    chunks = []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            text = f"{record['title']} {record['text']}"
            doc = Document(text=text, id=str(record["_id"]))
            chunks.append(Chunk.from_span(doc, 0, len(text), 0))
    return chunks


def _test_queries(limit: int) -> list[str]:
    with open(SCIFACT / "qrels" / "test.tsv", encoding="utf-8", newline="") as handle:
        ids = list(dict.fromkeys(row["query-id"] for row in csv.DictReader(handle, delimiter="\t")))
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as handle:
        texts = {str(q["_id"]): q["text"] for q in map(json.loads, handle)}
    return [texts[qid] for qid in ids[:limit]]


def _ranking(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(hit.chunk.id, hit.score) for hit in hits]


def test_bm25s_top10_equals_rank_bm25_on_scifact(tmp_path: Path) -> None:
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"SciFact not found at {SCIFACT}")
    chunks, queries = _documents(), _test_queries(QUERIES)
    assert len(chunks) == 5183 and len(queries) == QUERIES
    reference = BM25Store(tmp_path / "rank_bm25", BM25Settings(backend="rank_bm25"))
    sparse = BM25Store(tmp_path / "bm25s")
    assert reference.write(chunks) == len(chunks)
    for begin in range(0, len(chunks), 750):
        sparse.write(chunks[begin : begin + 750])
    assert sparse.count() == len(chunks) and sparse.segment_count == 7
    reopened = BM25Store(tmp_path / "bm25s")
    for query in queries:
        expected = _ranking(reference.search(query, 10))
        assert len(expected) == 10
        for store in (sparse, reopened):
            got = _ranking(store.search(query, 10))
            assert [cid for cid, _ in got] == [cid for cid, _ in expected], query
            for (_, score), (_, want) in zip(got, expected, strict=True):
                assert score == pytest.approx(want, rel=1e-9)
    assert all(isinstance(seg.postings, np.memmap) for seg, _ in reopened._view)
