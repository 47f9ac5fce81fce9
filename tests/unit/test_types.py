"""The data types: exact chunk spans, content-hash ids, LangChain round trips, citations."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document as LCDocument

from ragloom.types import Answer, Chunk, Document, Hit, content_hash

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
