"""Token-window chunking: exact character spans, tiling, overlap and word boundaries."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragloom.chunking.token_window import TokenWindowChunker, token_windows
from ragloom.errors import ComponentConfigError
from ragloom.models import load_tokenizer
from ragloom.types import Chunk, Document

TEXT = (
    "Retrieval-augmented generation combines a retriever with a generator. The retriever "
    "finds passages; the generator writes an answer that cites them.\n\n"
    "Chunking splits documents into windows of model tokens. Internationalization and "
    "counterrevolutionaries are long words that the tokenizer splits into several pieces, "
    "and a window must never cut such a word in half. Café, naïve, résumé: accents too.\n"
    "Late chunking encodes the whole document once and pools each chunk's token states, "
    "so every chunk sees its context. Hybrid retrieval fuses BM25 and dense rankings."
)


def _words(sizes: list[int]) -> tuple[list[tuple[int, int]], list[int | None], int]:
    """Synthetic tokenization: word w has sizes[w] one-character tokens; words split by spaces."""
    offsets: list[tuple[int, int]] = []
    word_ids: list[int | None] = []
    pos = 0
    for word, size in enumerate(sizes):
        for _ in range(size):
            offsets.append((pos, pos + 1))
            word_ids.append(word)
            pos += 1
        pos += 1  # the space after the word
    return offsets, word_ids, pos - 1


def _token_count(text: str) -> int:
    tokenizer = load_tokenizer("minilm")
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _assert_exact(doc: Document, chunks: list[Chunk]) -> None:
    for n, chunk in enumerate(chunks):
        assert chunk.doc_id == doc.id
        assert chunk.position == n
        assert doc.text[chunk.start : chunk.end] == chunk.text


# -- the pure window function -----------------------------------------------------------------


def test_windows_without_overlap_tile_the_whole_text() -> None:
    offsets, _, length = _words([1] * 25)
    spans = token_windows(offsets, length + 3, chunk_size=4, overlap=0)
    assert spans[0][0] == 0
    assert spans[-1][1] == length + 3
    for (_, end), (begin, _) in pairwise(spans):
        assert end == begin
    covered = {i for begin, end in spans for i in range(begin, end)}
    assert covered == set(range(length + 3))


def test_windows_with_overlap_overlap_their_neighbours() -> None:
    offsets, _, length = _words([1] * 30)
    spans = token_windows(offsets, length, chunk_size=6, overlap=2)
    assert len(spans) > 3
    for (begin, end), (next_begin, next_end) in pairwise(spans):
        assert begin < next_begin < end < next_end
    assert spans[0][0] == 0 and spans[-1][1] == length


@pytest.mark.parametrize("overlap", [0, 1, 2])
def test_windows_never_start_or_end_inside_a_word(overlap: int) -> None:
    sizes = [1, 3, 2, 1, 4, 1, 1, 2, 3, 1, 1, 2, 1, 3, 1]
    offsets, word_ids, length = _words(sizes)
    word_starts = {
        offsets[i][0] for i in range(len(offsets)) if i == 0 or word_ids[i - 1] != word_ids[i]
    }
    word_ends = {
        offsets[i][1]
        for i in range(len(offsets))
        if i == len(offsets) - 1 or word_ids[i + 1] != word_ids[i]
    }
    spans = token_windows(offsets, length, chunk_size=4, overlap=overlap, word_ids=word_ids)
    assert len(spans) > 2
    for begin, end in spans:
        assert begin in word_starts
        assert end in (word_ends if overlap else word_starts | {length})


def test_empty_offsets_give_no_windows() -> None:
    assert token_windows([], 0, chunk_size=8, overlap=2) == []
    assert token_windows([], 5, chunk_size=8, overlap=0, word_ids=[]) == []


def test_a_short_text_is_one_window_over_all_of_it() -> None:
    offsets, word_ids, length = _words([1, 2, 1])
    assert token_windows(offsets, length + 2, chunk_size=16, overlap=4, word_ids=word_ids) == [
        (0, length + 2)
    ]


def test_a_word_longer_than_the_step_loses_no_text_with_overlap() -> None:
    # words: a b c <11-token word> d e f g h i j k  (chunk 4, overlap 1 -> step 3)
    offsets, word_ids, length = _words([1, 1, 1, 11, 1, 1, 1, 1, 1, 1, 1, 1])
    spans = token_windows(offsets, length, chunk_size=4, overlap=1, word_ids=word_ids)
    covered = {i for begin, end in spans for i in range(begin, end)}
    assert {begin for begin, _ in offsets} <= covered


def test_chunker_keeps_the_word_after_a_long_word() -> None:
    doc = Document(text="a b c supercalifragilisticexpialidocious d e f g h i j k", id="long")
    chunks = TokenWindowChunker(chunk_size=4, overlap=1).chunk(doc)
    covered = {i for c in chunks for i in range(c.start, c.end)}
    assert doc.text.index(" d ") + 1 in covered


# -- the chunker on real text -----------------------------------------------------------------


@pytest.mark.parametrize(("chunk_size", "overlap"), [(32, 0), (32, 8), (128, 16)])
def test_chunks_are_exact_ordered_spans_of_bounded_size(chunk_size: int, overlap: int) -> None:
    doc = Document(text=TEXT, id="doc-1")
    chunks = TokenWindowChunker(chunk_size=chunk_size, overlap=overlap).chunk(doc)
    assert chunks
    _assert_exact(doc, chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(TEXT)
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})
    for chunk in chunks:
        assert _token_count(chunk.text) <= chunk_size + 4, chunk.text
    if overlap == 0:
        assert "".join(c.text for c in chunks) == TEXT


def test_text_shorter_than_a_window_is_one_chunk() -> None:
    doc = Document(text="  A short note.  ", id="short")
    (chunk,) = TokenWindowChunker(chunk_size=64, overlap=8).chunk(doc)
    assert (chunk.start, chunk.end, chunk.text) == (0, len(doc.text), doc.text)


def test_chunk_ids_are_unique_and_stable_across_runs() -> None:
    doc = Document(text=TEXT, id="stable")
    first = [c.id for c in TokenWindowChunker(chunk_size=24, overlap=6).chunk(doc)]
    again = [c.id for c in TokenWindowChunker(chunk_size=24, overlap=6).chunk(doc)]
    assert len(set(first)) == len(first) > 3
    assert first == again
    assert all(cid.startswith("stable#") for cid in first)


def test_run_chunks_every_document_in_order() -> None:
    docs = [Document(text=TEXT, id="one"), Document(text="Second document.", id="two")]
    chunks = TokenWindowChunker(chunk_size=32, overlap=4).run(documents=docs)["chunks"]
    doc_ids = [c.doc_id for c in chunks]
    assert doc_ids == ["one"] * doc_ids.count("one") + ["two"]
    assert [c.position for c in chunks[:-1]] == list(range(len(chunks) - 1))
    assert chunks[-1].doc_id == "two" and chunks[-1].position == 0


@pytest.mark.parametrize("text", ["", " ", "   \n\t \n  ", "\u3000\u00a0 "])
def test_empty_or_whitespace_documents_give_no_chunks(text: str) -> None:
    assert TokenWindowChunker(chunk_size=8, overlap=2).chunk(Document(text=text, id="ws")) == []


def test_document_metadata_is_copied_into_every_chunk() -> None:
    meta: dict[str, Any] = {"source": "notes.txt", "year": 2024, "tags": ["a", "b"]}
    doc = Document(text=TEXT, id="meta", metadata=meta)
    chunks = TokenWindowChunker(chunk_size=32, overlap=0).chunk(doc)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.metadata == meta
        assert chunk.metadata is not doc.metadata
    chunks[0].metadata["source"] = "changed"
    assert doc.metadata["source"] == "notes.txt"


@pytest.mark.parametrize(("chunk_size", "overlap"), [(4, 4), (4, 9), (1, 1)])
def test_overlap_not_below_chunk_size_is_a_config_error(chunk_size: int, overlap: int) -> None:
    with pytest.raises(ComponentConfigError) as info:
        TokenWindowChunker(chunk_size=chunk_size, overlap=overlap)
    assert "overlap" in str(info.value)
    assert [p.field for p in info.value.problems] == ["overlap"]


@pytest.mark.parametrize("params", [{"chunk_size": 0}, {"overlap": -1}])
def test_non_positive_sizes_are_config_errors(params: dict[str, int]) -> None:
    with pytest.raises(ComponentConfigError) as info:
        TokenWindowChunker(**params)
    assert next(iter(params)) in str(info.value)


def test_chunker_round_trips_through_its_envelope() -> None:
    chunker = TokenWindowChunker(chunk_size=64, overlap=8)
    data = chunker.to_dict()
    assert data == {
        "type": "token_chunker",
        "init_parameters": {"chunk_size": 64, "overlap": 8, "tokenizer": "minilm"},
    }
    assert TokenWindowChunker.from_dict(data).init_parameters == data["init_parameters"]


# -- property: any unicode text ---------------------------------------------------------------

_PIECES = st.one_of(
    st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1),
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1),
    st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), min_size=1),
    st.text(alphabet=st.sampled_from("e\u0301a\u0308o\u0327\u0300\u20dd\u200d"), min_size=1),
    st.text(alphabet=st.sampled_from("éñüßøİǅﬁ"), min_size=1),
    st.text(alphabet=st.sampled_from(" \n\t\r\u00a0\u3000\u2028"), min_size=1, max_size=6),
    st.text(max_size=5),
)
UNICODE_TEXT = st.lists(_PIECES, max_size=40).map("".join)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=UNICODE_TEXT, shape=st.sampled_from([(3, 0), (8, 0), (8, 3), (16, 5)]))
def test_any_unicode_text_chunks_into_exact_ordered_spans(
    text: str, shape: tuple[int, int]
) -> None:
    chunk_size, overlap = shape
    doc = Document(text=text, id="prop")
    chunks = TokenWindowChunker(chunk_size=chunk_size, overlap=overlap).chunk(doc)
    _assert_exact(doc, chunks)
    starts = [c.start for c in chunks]
    ends = [c.end for c in chunks]
    assert starts == sorted(set(starts))
    assert ends == sorted(ends)
    assert len({c.id for c in chunks}) == len(chunks)
    if not chunks:
        assert not text.strip() or _token_count(text) == 0
        return
    assert starts[0] == 0 and ends[-1] == len(text)
    if overlap == 0:
        assert "".join(c.text for c in chunks) == text
