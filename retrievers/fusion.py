"""Reciprocal rank fusion: merge ranked hit lists from several retrievers into one ranking.

Each candidate scores sum over sources of `weight / (k + rank)`, so agreement between
retrievers counts and no retriever's raw score scale matters (Cormack et al., 2009).

Example YAML::

    fusion:
      type: rrf_fusion
      init_parameters: {k: 60, top_k: 10, weights: {bm25: 1.0, dense: 1.0}}
    connections:
      - [bm25.hits, fusion.hits]
      - [dense.hits, fusion.hits]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field

from ragloom.component import Component, Variadic, output_types
from ragloom.registry import register
from ragloom.types import Chunk, Hit

Positive = Annotated[int, Field(gt=0)]


def _source_ranks(hit: Hit, list_index: int, position: int) -> list[tuple[str, int, float | None]]:
    """(source, rank, score) of a hit: its own ranks, else its position in the list."""
    if hit.source_ranks:
        return [(s, int(r), hit.source_scores.get(s)) for s, r in hit.source_ranks.items()]
    sources = list(hit.source_scores) or [f"list_{list_index}"]
    return [(s, position, hit.source_scores.get(s, hit.score)) for s in sources]


def reciprocal_rank_fusion(
    lists: Sequence[Sequence[Hit]], k: int = 60, weights: Mapping[str, float] | None = None
) -> list[Hit]:
    """Fuse ranked lists: score = sum of weight_s / (k + rank_s); best first, ties by chunk id.

    Ranks come from each hit's `source_ranks` (a hit without any is ranked by its 1-based
    position, under the name of its `source_scores` key or `list_<i>`). Every source's score
    and rank is kept on the fused hit; the chunk is the one from the first list it appeared in.
    A source met twice for one chunk keeps its best rank in the merged dicts.
    """
    weights = weights or {}
    chunks: dict[str, Chunk] = {}
    terms: dict[str, list[float]] = {}
    ranks: dict[str, dict[str, int]] = {}
    scores: dict[str, dict[str, float]] = {}
    for list_index, hits in enumerate(lists):
        seen: set[str] = set()
        for position, hit in enumerate(hits, 1):
            cid = hit.chunk.id
            if cid in seen:  # a list should not repeat a chunk; count its best place only
                continue
            seen.add(cid)
            chunks.setdefault(cid, hit.chunk)
            chunk_ranks = ranks.setdefault(cid, {})
            chunk_scores = scores.setdefault(cid, {})
            for source, rank, score in _source_ranks(hit, list_index, position):
                terms.setdefault(cid, []).append(weights.get(source, 1.0) / (k + rank))
                if source not in chunk_ranks or rank < chunk_ranks[source]:
                    chunk_ranks[source] = rank
                    if score is not None:
                        chunk_scores[source] = float(score)
    # fsum is exactly rounded, so equal sets of terms give equal scores whatever their order.
    fused = {cid: math.fsum(terms.get(cid, [])) for cid in chunks}
    order = sorted(chunks, key=lambda cid: (-fused[cid], cid))
    return [
        Hit(chunks[cid], fused[cid], source_scores=scores[cid], source_ranks=ranks[cid])
        for cid in order
    ]


@register("rrf_fusion")
class ReciprocalRankFusion(Component):
    """Fuses the hit lists of every connected retriever by reciprocal rank (RRF)."""

    def __init__(
        self,
        k: Positive = 60,
        top_k: Positive = 10,
        weights: dict[str, Annotated[float, Field(ge=0)]] | None = None,
    ):
        self.k = k
        self.top_k = top_k
        self.weights = dict(weights or {})

    @output_types(hits=list[Hit])
    def run(self, hits: Variadic[list[Hit]], top_k: int | None = None) -> dict[str, Any]:
        limit = self.top_k if top_k is None else top_k
        if limit <= 0:
            raise ValueError(f"{self.label()}: top_k must be greater than 0, got {limit}")
        return {"hits": reciprocal_rank_fusion(hits, self.k, self.weights)[:limit]}
