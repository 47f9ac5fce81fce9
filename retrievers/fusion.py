"""Fusion stages: merge the hit lists of several retrievers into one ranking.

`rrf_fusion` uses ranks only: each candidate scores sum over sources of `weight / (k + rank)`,
so agreement between retrievers counts and no retriever's score scale matters (Cormack et al.,
2009). `score_fusion` keeps score gaps: a weighted sum of each source's scores normalised per
query (`minmax`, `zscore` or Qdrant's `dbsf`; see `ragloom.retrievers.score_fusion`).

Example YAML::

    components:
      fusion:
        type: rrf_fusion
        init_parameters: {k: 60, top_k: 10, weights: {bm25: 1.0, dense: 1.0}}
      # or, for two sources, alpha = 0.7 on the dense side:
      # fusion: {type: score_fusion, init_parameters: {weights: {bm25: 0.3, dense: 0.7}}}
    connections:
      - {sender: bm25.hits, receiver: fusion.hits}
      - {sender: dense.hits, receiver: fusion.hits}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ragloom.component import Component, Variadic, output_types
from ragloom.registry import register
from ragloom.retrievers.score_fusion import reciprocal_rank_fusion, score_fusion
from ragloom.types import Hit

__all__ = ["ReciprocalRankFusion", "ScoreFusion", "reciprocal_rank_fusion", "score_fusion"]

Positive = Annotated[int, Field(gt=0)]
Weights = dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]]


def _limit(component: Component, default: int, top_k: int | None) -> int:
    limit = default if top_k is None else top_k
    if limit <= 0:
        raise ValueError(f"{component.label()}: top_k must be greater than 0, got {limit}")
    return limit


@register("rrf_fusion")
class ReciprocalRankFusion(Component):
    """Fuses the hit lists of every connected retriever by reciprocal rank (RRF)."""

    def __init__(self, k: Positive = 60, top_k: Positive = 10, weights: Weights | None = None):
        self.k = k
        self.top_k = top_k
        self.weights = dict(weights or {})

    @output_types(hits=list[Hit])
    def run(self, hits: Variadic[list[Hit]], top_k: int | None = None) -> dict[str, Any]:
        limit = _limit(self, self.top_k, top_k)
        return {"hits": reciprocal_rank_fusion(hits, self.k, self.weights)[:limit]}


@register("score_fusion")
class ScoreFusion(Component):
    """Fuses retrievers' hit lists by a weighted sum of their per-query normalised scores.

    `method`: `minmax`, `zscore` or `dbsf` (mean ± 3 std clipped to [0, 1], as Qdrant's DBSF).
    `weights`: source name -> weight (default: 1.0 each; when given, every source must be
    named). For two sources `weights: {bm25: 0.3, dense: 0.7}` is alpha = 0.7 on dense. A
    candidate one source missed gets that source's floor (its worst candidate's value).

    Example::

        ScoreFusion(method="dbsf", top_k=5, weights={"bm25": 0.3, "dense": 0.7})
    """

    def __init__(
        self,
        method: Literal["minmax", "zscore", "dbsf"] = "minmax",
        top_k: Positive = 10,
        weights: Weights | None = None,
    ):
        self.method = method
        self.top_k = top_k
        self.weights = dict(weights or {})

    @output_types(hits=list[Hit])
    def run(self, hits: Variadic[list[Hit]], top_k: int | None = None) -> dict[str, Any]:
        limit = _limit(self, self.top_k, top_k)
        return {"hits": score_fusion(hits, self.method, self.weights)[:limit]}
