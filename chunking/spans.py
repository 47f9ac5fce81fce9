"""Span helpers shared by the chunkers: grapheme-safe cut points and tiling spans.

Chunkers decide where to cut a text; these helpers move every cut to the next grapheme-cluster
boundary (so "e" + U+0301, an emoji ZWJ sequence or a flag is never split) and turn the cuts
into spans that tile the text in order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from itertools import pairwise

import regex

_GRAPHEME = regex.compile(r"\X")


def grapheme_starts(text: str) -> list[int]:
    """Start offsets of every extended grapheme cluster (Unicode UAX #29), plus `len(text)`."""
    starts = [m.start() for m in _GRAPHEME.finditer(text)]
    starts.append(len(text))
    return starts


def snap(cut: int, boundaries: list[int]) -> int:
    """The first grapheme boundary at or after `cut` (boundaries from `grapheme_starts`)."""
    return boundaries[bisect.bisect_left(boundaries, cut)]


def tile(text: str, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """Spans that tile `text` (first starts at 0, last ends at the end), cut at grapheme-safe
    positions near `cuts`; empty spans are dropped. A blank text has no spans."""
    if not text.strip():
        return []
    boundaries = grapheme_starts(text)
    points = sorted({snap(c, boundaries) for c in cuts if 0 < c < len(text)} - {len(text)})
    edges = [0, *points, len(text)]
    return [(a, b) for a, b in pairwise(edges) if b > a]
