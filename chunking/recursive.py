"""Recursive chunking: split by paragraph, then line, sentence and word, within a token budget.

A piece over `chunk_size` model tokens is split at the next finer separator (a word longer than
the budget, or CJK text without spaces, falls back to token windows); adjacent pieces are then
merged greedily while they fit the budget. Separators stay with the text before them, so the
chunks tile the document and `doc.text[c.start:c.end] == c.text`.

Example YAML::

    chunker:
      type: recursive_chunker
      init_parameters: {chunk_size: 128, tokenizer: minilm}
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from itertools import pairwise
from typing import Annotated, Any

import regex
from pydantic import Field

from ragloom.chunking.base import TokenizedChunker
from ragloom.chunking.sentences import split_sentences
from ragloom.chunking.spans import tile
from ragloom.models import DEFAULT_ENCODER
from ragloom.registry import register
from ragloom.types import Document

Span = tuple[int, int]
_PARAGRAPH = regex.compile(r"\n[^\S\n]*\n\s*")
_LINE = regex.compile(r"\n\s*")
_WORD = regex.compile(r"\s+")


def _separator_cuts(pattern: regex.Pattern[str]) -> Callable[[str, int, int], list[int]]:
    def cuts(text: str, start: int, end: int) -> list[int]:
        return [m.end() for m in pattern.finditer(text, start, end) if start < m.end() < end]

    return cuts


def _sentence_cuts(text: str, start: int, end: int) -> list[int]:
    return [start + s for s, _ in split_sentences(text[start:end])[1:]]


#: Separators from coarsest to finest; below the last one, pieces are cut into token windows.
LEVELS: tuple[Callable[[str, int, int], list[int]], ...] = (
    _separator_cuts(_PARAGRAPH),
    _separator_cuts(_LINE),
    _sentence_cuts,
    _separator_cuts(_WORD),
)


class _Budget:
    """Token counts of any span of one text, from a single tokenization."""

    def __init__(self, token_starts: list[int], chunk_size: int):
        self.starts = token_starts
        self.size = chunk_size

    def count(self, start: int, end: int) -> int:
        return bisect.bisect_left(self.starts, end) - bisect.bisect_left(self.starts, start)

    def fits(self, start: int, end: int) -> bool:
        return self.count(start, end) <= self.size

    def windows(self, start: int, end: int) -> list[Span]:
        first = bisect.bisect_left(self.starts, start)
        last = bisect.bisect_left(self.starts, end)
        cuts = [self.starts[i] for i in range(first + self.size, last, self.size)]
        edges = [start, *cuts, end]
        return list(pairwise(edges))


def recursive_spans(text: str, token_starts: list[int], chunk_size: int) -> list[Span]:
    """Spans tiling `text`, each within `chunk_size` tokens (token start offsets given)."""
    budget = _Budget(token_starts, chunk_size)

    def split(start: int, end: int, level: int) -> list[Span]:
        if budget.fits(start, end):
            return [(start, end)]
        if level == len(LEVELS):
            return budget.windows(start, end)
        edges = [start, *LEVELS[level](text, start, end), end]
        pieces: list[Span] = []
        for a, b in pairwise(edges):
            pieces.extend(split(a, b, level + 1))
        return _merge(pieces, budget)

    spans = split(0, len(text), 0)
    return tile(text, [start for start, _ in spans])


def _merge(pieces: list[Span], budget: _Budget) -> list[Span]:
    """Join adjacent pieces greedily while the joined span fits the budget."""
    merged: list[Span] = []
    for start, end in pieces:
        if merged and budget.fits(merged[-1][0], end):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@register("recursive_chunker")
class RecursiveChunker(TokenizedChunker):
    """Splits by paragraph → line → sentence → word so each chunk fits `chunk_size` tokens."""

    def __init__(
        self,
        chunk_size: Annotated[int, Field(gt=0)] = 128,
        tokenizer: str = DEFAULT_ENCODER,
    ):
        self.chunk_size = chunk_size
        self.tokenizer = tokenizer

    def spans_of(self, doc: Document, encoding: Any) -> list[tuple[int, int]]:
        starts = [start for start, _ in encoding.offsets]
        return recursive_spans(doc.text, starts, self.chunk_size)
