"""The `cross_encoder_reranker` stage: re-score the best retrieved candidates with a cross-encoder.

A cross-encoder reads the query and a passage together, which ranks far better than comparing
two separately made vectors, but costs one model pass per pair: so only the first `depth`
candidates are scored, in batches, each pair cut to `max_length` tokens.

No cross-encoder ships its weights on PyPI, so `model` has no default: give a folder written by
`ragloom train-reranker`, any local Hugging Face folder, or a hub id
(`cross-encoder/ms-marco-MiniLM-L6-v2`) where you have a network.

With `retrieval_weight: w` > 0 the final score is `(1 - w) * reranker + w * retrieval`, both
min-max normalised over the reranked candidates: a reranker trained on little data then adds
to what retrieval already ranks well instead of overruling it (tune w on held-out queries).

`backend: onnx` scores with ONNX Runtime on the CPU (the model exported once into the model
cache; float32 scores match torch), `quantize: int8` with dynamic int8 weights on top of it.

Example YAML::

    reranker:
      type: cross_encoder_reranker
      init_parameters: {model: models/scifact-reranker, depth: 20, top_k: 5, backend: onnx}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field, PositiveInt

from ragloom.backends import Backend, Quantize, refuse_backend
from ragloom.component import Component, output_types
from ragloom.devices import DType
from ragloom.registry import register
from ragloom.rerank.cross_encoder import CrossEncoder, load_cross_encoder
from ragloom.retrievers.score_fusion import minmax
from ragloom.types import Hit

Weight = Annotated[float, Field(ge=0.0, le=1.0)]
SOURCE = "rerank"


def rerank_hits(
    encoder: CrossEncoder,
    query: str,
    hits: Sequence[Hit],
    *,
    depth: int = 100,
    top_k: int | None = None,
    threshold: float | None = None,
    batch_size: int = 16,
    max_length: int | None = None,
    retrieval_weight: float = 0.0,
) -> list[Hit]:
    """The first `depth` hits re-scored by the cross-encoder, best first (ties by chunk id),
    then the unscored rest in retrieval order; at most `top_k` in all.

    The rest are scored below every reranked hit (the lowest reranked score minus their place
    after it), so scores stay in rank order. With a `threshold`, reranked hits whose reranker
    score is under it are dropped and so is the unscored rest (nothing vouches for it). With a
    `retrieval_weight` w > 0 a hit's score is (1 - w) x its min-max normalised reranker score
    + w x its min-max normalised retrieval score (both over the candidates). Each hit keeps its
    retrievers' scores and ranks; reranked ones gain the reranker's as source "rerank".
    """
    candidates, rest = split_candidates(hits, depth)
    if not candidates:
        return []
    texts = [h.chunk.text for h in candidates]
    scores = encoder.score(query, texts, batch_size=batch_size, max_length=max_length)
    return rank_scored(
        candidates,
        rest,
        [float(s) for s in scores],
        top_k=top_k,
        threshold=threshold,
        retrieval_weight=retrieval_weight,
    )


def split_candidates(hits: Sequence[Hit], depth: int) -> tuple[list[Hit], list[Hit]]:
    """(the first `depth` distinct chunks' hits, to score; the rest, kept unscored)."""
    unique = _unique(hits)
    return unique[:depth], unique[depth:]


def rank_scored(
    candidates: list[Hit],
    rest: list[Hit],
    scores: list[float],
    *,
    top_k: int | None = None,
    threshold: float | None = None,
    retrieval_weight: float = 0.0,
) -> list[Hit]:
    """The hits of `rerank_hits` once the cross-encoder has scored `candidates` (`scores`)."""
    final = _blend(scores, [h.score for h in candidates], retrieval_weight)
    by_reranker = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i].chunk.id))
    rerank_rank = {i: rank for rank, i in enumerate(by_reranker, 1)}
    order = sorted(range(len(candidates)), key=lambda i: (-final[i], candidates[i].chunk.id))
    if threshold is not None:
        order = [i for i in order if scores[i] >= threshold]
        rest = []
    ranked = []
    for i in order:
        hit = candidates[i]
        ranked.append(
            replace(
                hit,
                score=final[i],
                source_scores={**hit.source_scores, SOURCE: scores[i]},
                source_ranks={**hit.source_ranks, SOURCE: rerank_rank[i]},
            )
        )
    floor = min((h.score for h in ranked), default=0.0)
    ranked += [replace(hit, score=floor - n) for n, hit in enumerate(rest, 1)]
    return ranked if top_k is None else ranked[:top_k]


def _blend(rerank: list[float], retrieval: list[float], weight: float) -> list[float]:
    """The reranker's scores alone (weight 0), else the weighted sum of both, min-max scaled."""
    if weight <= 0.0:
        return rerank
    rerank_scaled, _ = minmax(rerank)
    retrieval_scaled, _ = minmax(retrieval)
    return [
        (1.0 - weight) * r + weight * q
        for r, q in zip(rerank_scaled, retrieval_scaled, strict=True)
    ]


def _unique(hits: Sequence[Hit]) -> list[Hit]:
    """Hits in order, each chunk once (its first, best-ranked occurrence)."""
    seen: set[str] = set()
    unique = []
    for hit in hits:
        if hit.chunk.id not in seen:
            seen.add(hit.chunk.id)
            unique.append(hit)
    return unique


@register("cross_encoder_reranker")
class CrossEncoderReranker(Component):
    """Re-ranks the first `depth` retrieved hits with a cross-encoder; returns the `top_k` best."""

    def __init__(
        self,
        model: Annotated[str, Field(min_length=1)],
        top_k: PositiveInt = 10,
        depth: PositiveInt = 100,
        batch_size: PositiveInt = 16,
        max_length: PositiveInt | None = None,
        threshold: float | None = None,
        device: str = "auto",
        dtype: DType = "auto",
        retrieval_weight: Weight = 0.0,
        backend: Backend = "torch",
        quantize: Quantize = "none",
        threads: PositiveInt | None = None,
    ):
        refuse_backend(self.registered_name(), backend, quantize, dtype)
        self.model = model
        self.top_k = top_k
        self.depth = depth
        self.batch_size = batch_size
        self.max_length = max_length
        self.threshold = threshold
        self.device = device
        self.dtype = dtype
        self.retrieval_weight = retrieval_weight
        self.backend = backend
        self.quantize = quantize
        self.threads = threads
        self._encoder: CrossEncoder | None = None

    def warm_up(self) -> None:
        if self._encoder is None:
            self._encoder = load_cross_encoder(
                self.model, self.device, self.dtype, self.backend, self.quantize, self.threads
            )

    @output_types(hits=list[Hit])
    def run(self, query: str, hits: list[Hit], top_k: int | None = None) -> dict[str, Any]:
        self.warm_up()
        assert self._encoder is not None
        ranked = rerank_hits(
            self._encoder,
            query,
            hits,
            depth=self.depth,
            top_k=self.top_k if top_k is None else top_k,  # a per-call value is checked on entry
            threshold=self.threshold,
            batch_size=self.batch_size,
            max_length=self.max_length,
            retrieval_weight=self.retrieval_weight,
        )
        return {"hits": ranked}

    def run_batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Many calls' `run` in one length-sorted pass over all their (query, passage) pairs
        (`ragloom.roles.BatchRunner`: Ray Serve and the local server batch concurrent
        requests with it; `RAG.query_batch` many questions); each call gets what its `run`
        returns."""
        self.warm_up()
        assert self._encoder is not None
        jobs = [self._job(**call) for call in calls]  # run's signature: a bad call raises here
        pairs = [(query, hit.chunk.text) for query, candidates, _, _ in jobs for hit in candidates]
        scores = self._encoder.score_pairs(
            [query for query, _ in pairs],
            [text for _, text in pairs],
            batch_size=self.batch_size,
            max_length=self.max_length,
        ).tolist()
        results: list[dict[str, Any]] = []
        for _, candidates, rest, top_k in jobs:
            own, scores = scores[: len(candidates)], scores[len(candidates) :]
            if not candidates:  # as `rerank_hits`: nothing to rank
                results.append({"hits": []})
                continue
            ranked = rank_scored(
                candidates,
                rest,
                own,
                top_k=top_k,
                threshold=self.threshold,
                retrieval_weight=self.retrieval_weight,
            )
            results.append({"hits": ranked})
        return results

    def _job(
        self, query: str, hits: list[Hit], top_k: int | None = None
    ) -> tuple[str, list[Hit], list[Hit], int]:
        """One call of `run_batch`: (query, candidates to score, unscored rest, top_k)."""
        candidates, rest = split_candidates(hits, self.depth)
        return query, candidates, rest, self.top_k if top_k is None else top_k
