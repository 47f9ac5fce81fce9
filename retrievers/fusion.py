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

from pydantic import Field, PositiveInt

from ragloom.component import Component, Variadic, output_types
from ragloom.registry import register
from ragloom.retrievers.score_fusion import by_document, reciprocal_rank_fusion, score_fusion
from ragloom.stored_chunks import read_hits
from ragloom.types import Hit

__all__ = ["ReciprocalRankFusion", "ScoreFusion", "reciprocal_rank_fusion", "score_fusion"]

Weights = dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]]
#: What fusion merges: chunks by id, or documents (each source's best chunk per document).
GroupBy = Literal["chunk", "document"]


class FusionStage(Component):
    """What both fusion stages share: `top_k` fused hits of every connected retriever's list.

    `weights`: source name -> weight. `group_by`: `chunk` (default) fuses chunks by id;
    `document` first keeps each source's best chunk per document and fuses documents, so
    sources that chunk differently (BM25 over whole documents, dense over sentences) still
    agree on candidates; a fused hit carries the longest chunk any source returned for its
    document. A subclass says how lists fuse (`fuse`) and declares its own parameters.
    """

    def __init__(
        self,
        top_k: PositiveInt = 10,
        weights: Weights | None = None,
        group_by: GroupBy = "chunk",
    ):
        self.top_k = top_k
        self.weights = dict(weights or {})
        self.group_by = group_by

    def fuse(self, lists: list[list[Hit]], limit: int) -> list[Hit]:
        """The `limit` best candidates of `lists`, fused, best first."""
        raise NotImplementedError

    @output_types(hits=list[Hit])
    def run(self, hits: Variadic[list[Hit]], top_k: int | None = None) -> dict[str, Any]:
        limit = self.top_k if top_k is None else top_k  # a per-call value is checked on entry
        lists = by_document(hits) if self.group_by == "document" else hits
        return {"hits": read_hits(self.fuse(lists, limit))}  # texts of the kept hits only


@register("rrf_fusion")
class ReciprocalRankFusion(FusionStage):
    """Fuses the hit lists of every connected retriever by reciprocal rank: sum of w / (k + rank).

    Takes `top_k`, `weights` (default 1.0 a source) and `group_by` too (see `FusionStage`).

    Example::

        ReciprocalRankFusion(k=60, top_k=10, weights={"bm25": 1.0, "dense": 2.0})
    """

    def __init__(self, k: PositiveInt = 60, **inherited: Any):
        super().__init__(**inherited)
        self.k = k

    def fuse(self, lists: list[list[Hit]], limit: int) -> list[Hit]:
        return reciprocal_rank_fusion(lists, self.k, self.weights, limit)


@register("score_fusion")
class ScoreFusion(FusionStage):
    """Fuses retrievers' hit lists by a weighted sum of their per-query normalised scores.

    `method`: `minmax`, `zscore` or `dbsf` (mean ± 3 std clipped to [0, 1], as Qdrant's DBSF).
    Takes `top_k`, `weights` and `group_by` too (see `FusionStage`). `weights` default to 1.0
    each; when given, every source must be named. For two sources
    `weights: {bm25: 0.3, dense: 0.7}` is alpha = 0.7 on dense. A candidate one source missed
    gets that source's floor (its worst candidate's value).

    Example::

        ScoreFusion(method="dbsf", top_k=5, weights={"bm25": 0.3, "dense": 0.7})
    """

    def __init__(self, method: Literal["minmax", "zscore", "dbsf"] = "minmax", **inherited: Any):
        super().__init__(**inherited)
        self.method = method

    def fuse(self, lists: list[list[Hit]], limit: int) -> list[Hit]:
        return score_fusion(lists, self.method, self.weights, limit)
