"""Counted token numbers equal the tokenizer's, and the token chunker's chunks do not change."""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragloom.chunking.token_window import TokenWindowChunker
from ragloom.types import Document

#: Words WordPiece splits in various ways, punctuation runs, digits, an added token's pieces.
PIECES = [
    "retrieval",
    "Internationalization",
    "counterrevolutionaries",
    "BM25",
    "k1",
    "x" * 120,
    "e.g.",
    "--",
    "...",
    "[",
    "]",
    "SEP",
    "CLS",
    "##",
    "'s",
    "zxqv",
    "ABCdef",
    "1234567",
    "\t",
    "\n",
    "\r\n",
    "  ",
    " ",
    "~`|\\",
    "{}",
    "<=>",
    "@#$%^&*()_+",
    '"quoted"',
]


@pytest.fixture(scope="module")
def chunker() -> TokenWindowChunker:
    chunker = TokenWindowChunker(chunk_size=48, overlap=0)
    chunker.warm_up()
    return chunker


def _tokens(chunker: TokenWindowChunker, text: str) -> int:
    return len(chunker.tokenize(text))


def test_the_bundled_tokenizer_gets_a_counter(chunker: TokenWindowChunker) -> None:
    assert chunker._counter is not None


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_counts_equal_the_tokenizer_on_mixed_ascii(
    chunker: TokenWindowChunker, pieces: list[str]
) -> None:
    assert chunker._counter is not None
    text = " ".join(pieces) if len(pieces) % 2 else "".join(pieces)
    assert chunker._counter.count(text) == _tokens(chunker, text)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=200))
def test_counts_equal_the_tokenizer_or_decline_on_any_ascii(
    chunker: TokenWindowChunker, text: str
) -> None:
    assert chunker._counter is not None
    count = chunker._counter.count(text)
    if count is not None:
        assert count == _tokens(chunker, text)


@pytest.mark.parametrize(
    "text",
    ["café au lait", "naïve — “quotes”", "中文字符", "tab\x0bvertical", "bell\x07ring", "a[SEP]b"],
)
def test_text_the_rules_do_not_cover_is_left_to_the_tokenizer(
    chunker: TokenWindowChunker, text: str
) -> None:
    assert chunker._counter is not None
    assert chunker._counter.count(text) is None


def test_chunks_are_the_same_with_and_without_counting(chunker: TokenWindowChunker) -> None:
    rng = random.Random(7)
    docs = []
    for n in range(300):
        words = [
            "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(1, 12)))
            for _ in range(rng.randint(0, 70))
        ]
        text = " ".join(words) + rng.choice(["", ".", " é", "\x01", " [SEP]"])
        docs.append(Document(text=text, id=f"d{n}"))
    counted = chunker.run(docs)["chunks"]
    plain = TokenWindowChunker(chunk_size=48, overlap=0)
    plain.warm_up()
    plain._counter = None
    assert counted == plain.run(docs)["chunks"]
    assert [c for d in docs for c in chunker.chunk(d)] == counted
    # Both paths ran: some documents fit one window, some did not.
    assert {len(chunker.chunk(d)) for d in docs} >= {0, 1, 2}
