"""Pure helpers of late chunking: macro-window plans, chunk token spans, span pooling.

Token positions here count the document's own tokens (tokenized without special tokens);
character spans are Python string offsets, the same as `Chunk.start`/`Chunk.end`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragloom.types import Chunk


@dataclass(frozen=True)
class Window:
    """One model pass over document tokens [begin, end); only [keep, end) is used from it."""

    begin: int
    keep: int
    end: int


def plan_windows(n_tokens: int, capacity: int, overlap: int) -> list[Window]:
    """Macro-windows of at most `capacity` tokens overlapping by `overlap`.

    Every window after the first drops its first `overlap` tokens (they have little left
    context there and full context in the window before), so the kept ranges tile [0, n).
    """
    if overlap >= capacity:
        raise ValueError(f"window overlap ({overlap}) must be smaller than its size ({capacity})")
    if n_tokens <= 0:
        return []
    windows = [Window(0, 0, min(capacity, n_tokens))]
    while windows[-1].end < n_tokens:
        begin = windows[-1].end - overlap
        windows.append(Window(begin, begin + overlap, min(begin + capacity, n_tokens)))
    return windows


def token_span(starts: Sequence[int], ends: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """The tokens [a, b) whose characters overlap the span [start, end) (a == b: none).

    `starts`/`ends` are the tokens' character offsets, in order. A token cut by the span edge
    counts as inside, as the piece of it a chunk holds would be encoded on its own.
    """
    a = bisect.bisect_right(ends, start)
    b = bisect.bisect_left(starts, end)
    return a, max(a, b)


def chunk_token_spans(
    offsets: Sequence[tuple[int, int]], chunks: Sequence[Chunk]
) -> list[tuple[int, int]]:
    """Token span of every chunk of one document, from the document's offset mapping."""
    starts = [s for s, _ in offsets]
    ends = [e for _, e in offsets]
    return [token_span(starts, ends, c.start, c.end) for c in chunks]


def special_wrap(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after a text ([CLS] / [SEP], ...)."""
    encoded = tokenizer("x", return_special_tokens_mask=True)
    ids, mask = encoded["input_ids"], encoded["special_tokens_mask"]
    content = [i for i, special in enumerate(mask) if not special]
    if not content:
        return [], []
    return list(ids[: content[0]]), list(ids[content[-1] + 1 :])


def add_span_sums(
    states: Any,
    window: Window,
    spans: Sequence[tuple[int, int]],
    rows: Sequence[int],
    sums: Any,
    counts: Any,
) -> None:
    """Add the kept token states of one window to the running sums of the chunks it covers.

    `states` holds the window's document tokens [window.begin, window.end) (no special or
    prefix tokens); `spans[i]` is the token span of the chunk stored at row `rows[i]`.
    """
    for (a, b), row in zip(spans, rows, strict=True):
        lo, hi = max(a, window.keep), min(b, window.end)
        if hi > lo:
            sums[row] += states[lo - window.begin : hi - window.begin].sum(dim=0)
            counts[row] += hi - lo
