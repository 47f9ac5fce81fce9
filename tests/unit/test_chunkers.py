"""Every chunker: exact spans, in-order coverage, grapheme-safe cuts (property-based), rules."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragloom.chunking.recursive import RecursiveChunker, recursive_spans
from ragloom.chunking.sentences import SentenceChunker, group_spans, split_sentences
from ragloom.chunking.spans import grapheme_starts, tile
from ragloom.chunking.token_window import TokenWindowChunker
from ragloom.component import Component
from ragloom.errors import ComponentConfigError
from ragloom.models import load_tokenizer
from ragloom.types import Chunk, Document

#: Chunkers whose chunks tile the document (each chunk starts where the previous one ends).
TILING: dict[str, Component] = {
    "token": TokenWindowChunker(chunk_size=8, overlap=0),
    "sentence": SentenceChunker(sentences_per_chunk=2),
    "recursive": RecursiveChunker(chunk_size=8),
}
OVERLAPPING: dict[str, Component] = {
    "token-overlap": TokenWindowChunker(chunk_size=8, overlap=3),
    "sentence-overlap": SentenceChunker(sentences_per_chunk=3, overlap=1),
}
# Random text with the pieces that break naive splitters: combining marks, ZWJ emoji sequences,
# flags, CJK, sentence ends, abbreviations, decimals and every kind of whitespace.
PIECES = st.sampled_from(
    ["e\u0301", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7", "東京。",
     "Dr. ", "3.14", "? ", "!\n", "\n\n", " ", "\t", "word ", "Ünïcödé ", "\u200b", "A. "]
)  # fmt: skip
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=30).map("".join)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _chunks(chunker: Component, text: str) -> tuple[Document, list[Chunk]]:
    doc = Document(text=text, id="d")
    return doc, chunker.run(documents=[doc])["chunks"]


def _token_count(text: str) -> int:
    tokenizer = load_tokenizer("minilm")
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _check_spans(doc: Document, chunks: list[Chunk]) -> None:
    for n, chunk in enumerate(chunks):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.position == n and chunk.doc_id == doc.id and chunk.end > chunk.start
    for a, b in pairwise(chunks):
        assert a.start < b.start and a.end <= b.end  # in document order
    if not doc.text.strip() or (not chunks and not _token_count(doc.text)):
        return  # blank text, or (token chunkers) text without a single token: no chunk
    covered = sorted(chunks, key=lambda c: c.start)
    assert covered[0].start == 0 and covered[-1].end == len(doc.text)
    for a, b in pairwise(covered):
        # No text is lost. (With overlap the token chunker ends a window at a word's end, so when
        # widening to whole words used up the overlap, the whitespace between windows is skipped.)
        assert not doc.text[a.end : b.start].strip()


def _check_graphemes(doc: Document, chunks: list[Chunk]) -> None:
    boundaries = set(grapheme_starts(doc.text))
    for chunk in chunks:
        assert chunk.start in boundaries and chunk.end in boundaries, chunk


@pytest.mark.parametrize("name", sorted(TILING))
@FAST
@given(text=TEXTS)
def test_tiling_chunkers_have_exact_spans_that_tile_the_text(name: str, text: str) -> None:
    doc, chunks = _chunks(TILING[name], text)
    _check_spans(doc, chunks)
    for a, b in pairwise(chunks):
        assert a.end == b.start
    _check_graphemes(doc, chunks)


@pytest.mark.parametrize("name", sorted(OVERLAPPING))
@FAST
@given(text=TEXTS)
def test_overlapping_chunkers_have_exact_spans_that_cover_the_text(name: str, text: str) -> None:
    doc, chunks = _chunks(OVERLAPPING[name], text)
    _check_spans(doc, chunks)


@FAST
@given(text=TEXTS)
def test_sentences_tile_the_text_at_grapheme_boundaries(text: str) -> None:
    spans = split_sentences(text)
    if not text.strip():
        assert spans == []
        return
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in pairwise(spans))
    boundaries = set(grapheme_starts(text))
    assert all(start in boundaries for start, _ in spans)


@FAST
@given(
    words=st.lists(
        st.sampled_from(["alpha", "beta.", "gamma\n", "delta\n\n", "e" * 40]), max_size=60
    )
)
def test_recursive_chunks_fit_the_token_budget(words: list[str]) -> None:
    text = " ".join(words)
    tokenizer = load_tokenizer("minilm")
    starts = [
        s
        for s, _ in tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )["offset_mapping"]
    ]
    spans = recursive_spans(text, starts, 6)
    for start, end in spans:
        assert sum(start <= s < end for s in starts) <= 6
    assert [s for s, _ in spans] == [s for s, _ in tile(text, [s for s, _ in spans])]


def test_tile_moves_cuts_out_of_grapheme_clusters() -> None:
    text = "ae\u0301b\U0001f468\u200d\U0001f469c"
    assert tile(text, [2, 4, 5, 6]) == [(0, 3), (3, 4), (4, 7), (7, 8)]
    assert tile("   \n ", [2]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith paid $3.14 for it. He left!", ["Dr. Smith paid $3.14 for it. ", "He left!"]),
        ("See Fig. 2. J. K. Rowling agrees.", ["See Fig. 2. ", "J. K. Rowling agrees."]),
        ("Some (e.g. Mr. X) do. Others not.", ["Some (e.g. Mr. X) do. ", "Others not."]),
        ("It rose approx. five times. Then fell.", ["It rose approx. five times. ", "Then fell."]),
        ("A title\n\nThe abstract. Ends here.", ["A title\n\n", "The abstract. ", "Ends here."]),
        ("東京。大阪\uff01本当\uff1fはい", ["東京。", "大阪\uff01", "本当\uff1f", "はい"]),
        ('He said "Stop." Then ran.', ['He said "Stop." ', "Then ran."]),
    ],
)  # fmt: skip
def test_sentence_splitter_handles_abbreviations_decimals_and_cjk(
    text: str, expected: list[str]
) -> None:
    assert [text[a:b] for a, b in split_sentences(text)] == expected


def test_sentence_groups_overlap_by_whole_sentences() -> None:
    spans = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert group_spans(spans, 2) == [(0, 2), (2, 4), (4, 5)]
    assert group_spans(spans, 3, overlap=1) == [(0, 3), (2, 5)]


def test_recursive_chunker_prefers_paragraphs_then_sentences() -> None:
    para = "One short sentence here. Another one follows it."
    text = f"{para}\n\n{para}\n\n{para}"
    _, chunks = _chunks(RecursiveChunker(chunk_size=12), text)
    assert [c.text.strip() for c in chunks] == [para] * 3
    _, chunks = _chunks(RecursiveChunker(chunk_size=6), text)
    assert chunks[0].text == "One short sentence here. "


def test_invalid_chunker_settings_fail_before_any_model_loads() -> None:
    with pytest.raises(ComponentConfigError, match="overlap"):
        SentenceChunker(sentences_per_chunk=2, overlap=2)
    with pytest.raises(ComponentConfigError, match="chunk_size"):
        RecursiveChunker(chunk_size=0)
