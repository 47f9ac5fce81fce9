"""IR metrics with trec_eval (pytrec_eval): nDCG@10, Recall@10/100, MRR@10 over document runs.

Chunk hits become a document ranking first (`document_run`: a document scores its best chunk).
trec_eval re-sorts a run by score and breaks ties by document id, so runs are handed to it with
rank-derived scores: the ranking evaluated is exactly the ranking the pipeline produced. A judged
query with no hits scores 0 (trec_eval itself would silently drop it from the mean).

Example::

    run = {qid: document_run(hits) for qid, hits in hits_by_query.items()}
    scores = evaluate(qrels, run)  # {"ndcg@10": 0.66, "recall@100": 0.93, ...}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ragloom.types import Hit

Run = dict[str, dict[str, float]]
#: Reported name -> (trec_eval measure, result key, cutoff applied to the run first).
METRICS: dict[str, tuple[str, str, int | None]] = {
    "ndcg@10": ("ndcg_cut.10", "ndcg_cut_10", None),
    "recall@10": ("recall.10", "recall_10", None),
    "recall@100": ("recall.100", "recall_100", None),
    "mrr@10": ("recip_rank", "recip_rank", 10),
}


def document_run(hits: Sequence[Hit], depth: int = 100) -> dict[str, float]:
    """Document id -> score of its best chunk, for the `depth` best documents."""
    best: dict[str, float] = {}
    first: dict[str, int] = {}
    for rank, hit in enumerate(hits):
        doc_id = hit.chunk.doc_id
        first.setdefault(doc_id, rank)
        best[doc_id] = max(best.get(doc_id, -math.inf), float(hit.score))
    order = sorted(best, key=lambda d: (-best[d], first[d]))[:depth]
    return {doc_id: best[doc_id] for doc_id in order}


def ranked(run: Mapping[str, float], cutoff: int | None = None) -> dict[str, float]:
    """The run's order (by score, then insertion) as strictly decreasing scores n, n-1, ..."""
    order = sorted(run, key=lambda d: -run[d])  # stable: equal scores keep their order
    if cutoff is not None:
        order = order[:cutoff]
    return {doc_id: float(len(order) - i) for i, doc_id in enumerate(order)}


def _pytrec_eval() -> Any:
    try:
        import pytrec_eval
    except ImportError:
        raise ImportError(
            "ragloom eval needs pytrec_eval: `pip install pytrec-eval-terrier`"
        ) from None
    return pytrec_eval


def per_query(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Iterable[str] = tuple(METRICS),
) -> dict[str, dict[str, float]]:
    """Metric values of every judged query (0 for a query without hits)."""
    trec = _pytrec_eval()
    names = list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    judged = {qid: dict(docs) for qid, docs in qrels.items()}
    results: dict[str, dict[str, float]] = {qid: dict.fromkeys(names, 0.0) for qid in judged}
    by_cutoff: dict[int | None, list[str]] = {}
    for name in names:
        by_cutoff.setdefault(METRICS[name][2], []).append(name)
    for cutoff, group in by_cutoff.items():
        cut_run = {qid: ranked(run[qid], cutoff) for qid in judged if run.get(qid)}
        evaluator = trec.RelevanceEvaluator(judged, {METRICS[n][0] for n in group})
        for qid, values in evaluator.evaluate(cut_run).items():
            for name in group:
                results[qid][name] = float(values[METRICS[name][1]])
    return results


def evaluate(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Iterable[str] = tuple(METRICS),
) -> dict[str, float]:
    """Each metric's mean over the judged queries."""
    names = list(metrics)
    values = per_query(qrels, run, names)
    count = max(len(values), 1)
    return {name: sum(v[name] for v in values.values()) / count for name in names}
