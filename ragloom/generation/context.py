"""Context assembly: merge overlapping passages, order them for the model, fit a token budget.

Pure functions over hits, so the prompt builder stays small and each rule is testable alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ragloom.structure import union_metadata
from ragloom.types import Chunk, Hit

TokenCounter = Callable[[str], int]


def merge_overlapping(hits: Sequence[Hit]) -> list[Hit]:
    """Merge hits whose spans overlap or touch in the same document into one passage.

    The merged passage keeps the best score and every source's best score and rank, and its
    text is still the exact document span `[min start, max end)`. Order: best score first.
    """
    by_doc: dict[str, list[Hit]] = {}
    for hit in hits:
        by_doc.setdefault(hit.chunk.doc_id, []).append(hit)
    merged: list[Hit] = []
    for doc_hits in by_doc.values():
        doc_hits = sorted(doc_hits, key=lambda h: (h.chunk.start, h.chunk.end))
        current = doc_hits[0]
        for hit in doc_hits[1:]:
            if hit.chunk.start <= current.chunk.end:
                current = _union(current, hit)
            else:
                merged.append(current)
                current = hit
        merged.append(current)
    return sorted(merged, key=lambda h: (-h.score, h.chunk.id))


def _union(a: Hit, b: Hit) -> Hit:
    ca, cb = a.chunk, b.chunk
    if cb.end <= ca.end:
        text, end = ca.text, ca.end
    else:
        text, end = ca.text + cb.text[ca.end - cb.start :], cb.end
    best = a if a.score >= b.score else b
    chunk = Chunk(
        doc_id=ca.doc_id,
        text=text,
        start=ca.start,
        end=end,
        position=min(ca.position, cb.position),
        metadata=union_metadata(ca.metadata, cb.metadata, best.chunk.metadata),
    )
    scores = {**b.source_scores, **a.source_scores}
    for source, score in b.source_scores.items():
        scores[source] = max(score, a.source_scores.get(source, score))
    ranks = {**b.source_ranks, **a.source_ranks}
    for source, rank in b.source_ranks.items():
        ranks[source] = min(rank, a.source_ranks.get(source, rank))
    return Hit(chunk, max(a.score, b.score), scores, ranks)


def lost_in_the_middle(hits: Sequence[Hit]) -> list[Hit]:
    """Strongest passages at both edges: ranks 1, 3, 5, ... then ..., 4, 2 (Liu et al., 2023)."""
    front = list(hits[0::2])
    back = list(hits[1::2])
    return front + back[::-1]


def truncate_to_tokens(hit: Hit, budget: int, count: TokenCounter) -> Hit | None:
    """The longest prefix of the passage (cut at a word boundary) that fits `budget` tokens."""
    text = hit.chunk.text
    low, high = 0, len(text)
    while low < high:  # binary search on characters; counting is the expensive part
        mid = (low + high + 1) // 2
        if count(text[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    cut = text.rfind(" ", 0, low) if low < len(text) else low
    cut = cut if cut > 0 else low
    if cut <= 0:
        return None
    chunk = replace(hit.chunk, text=text[:cut], end=hit.chunk.start + cut, id="")
    chunk.__post_init__()  # re-derive the id of the shortened span
    return replace(hit, chunk=chunk)


def fit_budget(
    hits: Sequence[Hit], budget: int | None, count: TokenCounter, per_passage_overhead: int = 4
) -> list[Hit]:
    """Best-first passages whose tokens sum within `budget`; the first one is cut to fit."""
    if budget is None:
        return list(hits)
    kept: list[Hit] = []
    used = 0
    for hit in hits:
        cost = count(hit.chunk.text) + per_passage_overhead
        if used + cost <= budget:
            kept.append(hit)
            used += cost
        elif not kept:
            cut = truncate_to_tokens(hit, budget - per_passage_overhead, count)
            if cut is not None:
                kept.append(cut)
            break
        else:
            break
    return kept
