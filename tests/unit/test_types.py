"""The data types: exact chunk spans, content-hash ids, LangChain round trips, citations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document as LCDocument

from ragloom.types import (
    Answer,
    Chunk,
    Document,
    Hit,
    chunk_from_record,
    chunk_to_record,
    content_hash,
    metadata_json,
)

TEXT = "Hello wide world. Ünïcode ✓ spans stay exact."


@pytest.fixture
def doc() -> Document:
    return Document(TEXT, id="doc-1", metadata={"source": "a.txt"})


# -- Chunk spans ------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end"), [(0, 5), (6, 10), (18, 27), (0, len(TEXT)), (3, 3)])
def test_chunk_from_span_holds_the_span_invariant(doc: Document, start: int, end: int) -> None:
    chunk = Chunk.from_span(doc, start, end, position=2)
    assert doc.text[chunk.start : chunk.end] == chunk.text
    assert (chunk.doc_id, chunk.position, chunk.id) == ("doc-1", 2, f"doc-1#{start}-{end}")


def test_chunk_from_span_copies_document_metadata(doc: Document) -> None:
    chunk = Chunk.from_span(doc, 0, 5, position=0)
    chunk.metadata["extra"] = 1
    assert chunk.metadata == {"source": "a.txt", "extra": 1}
    assert doc.metadata == {"source": "a.txt"}


def test_chunk_text_not_matching_span_length_raises() -> None:
    with pytest.raises(ValueError, match=r"length 5 does not match span \[0, 4\).*'doc-1'"):
        Chunk("doc-1", "Hello", 0, 4)


@pytest.mark.parametrize(("start", "end"), [(5, 2), (-1, 3)])
def test_chunk_invalid_span_raises(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="not a valid span"):
        Chunk("d", "abc", start, end)


def test_chunk_keeps_a_given_id() -> None:
    assert Chunk("d", "abc", 0, 3, id="custom").id == "custom"


def test_chunks_with_embeddings_compare_equal() -> None:
    a = Chunk("d", "ab", 0, 2, embedding=np.zeros(3, dtype=np.float32))
    b = Chunk("d", "ab", 0, 2, embedding=np.zeros(3, dtype=np.float32))
    assert a == b


# -- Document ids -----------------------------------------------------------------------------


def test_document_id_defaults_to_a_stable_content_hash() -> None:
    first, second = Document("same text"), Document("same text")
    assert first.id == second.id == content_hash("same text")
    assert len(first.id) == 16
    assert Document("other text").id != first.id


def test_document_id_ignores_metadata_but_hash_does_not() -> None:
    plain, tagged = Document("t"), Document("t", metadata={"k": "v"})
    assert plain.id == tagged.id
    assert plain.hash != tagged.hash
    assert tagged.hash == Document("t", metadata={"k": "v"}).hash


def test_document_keeps_a_user_given_id() -> None:
    assert Document("t", id="path/to/file.md").id == "path/to/file.md"


def test_document_text_must_be_str() -> None:
    with pytest.raises(TypeError, match="must be str, got bytes"):
        Document(b"bytes")  # type: ignore[arg-type]


# -- LangChain interop ------------------------------------------------------------------------


def test_document_langchain_round_trip(doc: Document) -> None:
    lc = doc.to_langchain()
    assert (lc.id, lc.page_content, lc.metadata) == ("doc-1", TEXT, {"source": "a.txt"})
    assert Document.from_langchain(lc) == doc


def test_document_from_langchain_without_id_uses_content_hash() -> None:
    assert Document.from_langchain(LCDocument(page_content="abc")).id == content_hash("abc")


def test_chunk_langchain_round_trip(doc: Document) -> None:
    chunk = Chunk.from_span(doc, 6, 10, position=3)
    lc = chunk.to_langchain()
    assert lc.page_content == "wide"
    assert lc.metadata == {
        "source": "a.txt",
        "ragloom_doc_id": "doc-1",
        "ragloom_start": 6,
        "ragloom_end": 10,
        "ragloom_position": 3,
    }
    assert Chunk.from_langchain(lc) == chunk


def test_plain_langchain_document_becomes_a_whole_text_chunk() -> None:
    chunk = Chunk.from_langchain(LCDocument(page_content="abc", metadata={"k": 1}))
    assert (chunk.doc_id, chunk.start, chunk.end, chunk.text) == (content_hash("abc"), 0, 3, "abc")
    assert chunk.metadata == {"k": 1}


def test_chunk_round_trip_keeps_user_metadata_named_like_span_fields() -> None:
    chunk = Chunk("d", "abc", 0, 3, metadata={"position": "intro"})
    assert Chunk.from_langchain(chunk.to_langchain()) == chunk


def test_hit_to_langchain_keeps_score_and_chunk_fields(doc: Document) -> None:
    hit = Hit(Chunk.from_span(doc, 0, 5, position=0), np.float32(0.75))
    lc = hit.to_langchain()
    assert lc.metadata["score"] == 0.75
    assert isinstance(lc.metadata["score"], float)
    assert (lc.id, lc.page_content, lc.metadata["ragloom_doc_id"]) == (
        "doc-1#0-5",
        "Hello",
        "doc-1",
    )
    assert "score" not in hit.chunk.metadata


# -- Hit and Answer ---------------------------------------------------------------------------


def test_hit_with_score_returns_a_new_hit() -> None:
    hit = Hit(Chunk("d", "abc", 0, 3), 1.0, source_scores={"bm25": 2.0}, source_ranks={"bm25": 1})
    rescored = hit.with_score(np.float64(0.5))
    assert (hit.score, rescored.score, rescored.source_ranks) == (1.0, 0.5, {"bm25": 1})
    assert rescored.to_dict()["score"] == 0.5
    assert rescored.to_dict()["chunk_id"] == "d#0-3"


def _hits(n: int) -> list[Hit]:
    return [Hit(Chunk(f"d{i}", "x", 0, 1), 1.0 / (i + 1)) for i in range(n)]


def test_answer_cited_hits_are_one_based_and_ordered() -> None:
    hits = _hits(3)
    answer = Answer("text [3][1]", hits=hits, cited=[3, 1])
    assert answer.cited_hits == [hits[2], hits[0]]


@pytest.mark.parametrize("cited", [[0], [4], [-1], []])
def test_answer_cited_hits_ignores_numbers_outside_the_hits(cited: list[int]) -> None:
    assert Answer("t", hits=_hits(3), cited=cited).cited_hits == []


def test_answer_to_dict() -> None:
    answer = Answer("t", hits=_hits(1), cited=[1], generator="extractive", timings={"total": 0.1})
    assert answer.to_dict() == {
        "text": "t",
        "generator": "extractive",
        "cited": [1],
        "citations_inferred": False,
        "timings": {"total": 0.1},
    }


def _unicode_chunk() -> Chunk:
    meta = {"lang": "de", "tags": ["a", "ß"]}
    doc = Document("Zürich — 東京 \u2028 café", id="doc/ü", metadata=meta)
    chunk = Chunk.from_span(doc, 9, 11, position=3)
    chunk.metadata["nested"] = {"score": 0.5, "none": None}
    return chunk


def test_a_chunk_record_round_trips_metadata_unicode_span_and_embedding() -> None:
    chunk = _unicode_chunk()
    chunk.embedding = np.array([0.1, -2.5, 3e-8], dtype=np.float32)
    record = json.loads(json.dumps(chunk_to_record(chunk, embedding=True), ensure_ascii=False))
    back = chunk_from_record(record)
    assert back == chunk  # id, doc_id, text, span, position, metadata
    assert (back.text, back.start, back.end, back.position) == ("東京", 9, 11, 3)
    assert back.embedding is not None and back.embedding.dtype == np.float32
    assert np.array_equal(back.embedding, chunk.embedding)  # float32 -> JSON -> float32 exact
    plain = chunk_to_record(chunk)  # without asking, no vector: the BM25 catalogue's record
    assert "embedding" not in plain and chunk_from_record(plain).embedding is None


def test_the_chunk_record_format_is_unchanged() -> None:
    """Existing indexes hold these records: the keys and their meaning must not move."""
    chunk = Chunk("d", "xy", 4, 6, position=1, metadata={"k": "v"})
    assert chunk_to_record(chunk) == {
        "id": "d#4-6",
        "doc_id": "d",
        "text": "xy",
        "start": 4,
        "end": 6,
        "position": 1,
        "metadata": {"k": "v"},
    }
    old = {"id": "d#4-6", "doc_id": "d", "text": "xy", "start": "4", "end": 6, "metadata": None}
    assert chunk_from_record(old) == Chunk("d", "xy", 4, 6, position=0)  # older, looser records


def test_metadata_json_keeps_unicode_and_makes_numpy_values_plain() -> None:
    text = metadata_json({"name": "東京", "n": np.int64(3), "v": np.arange(2), "p": Path("a")})
    assert text == '{"name": "東京", "n": 3, "v": [0, 1], "p": "a"}'
