"""SciFact: BM25, dense, hybrid fusion and hybrid + cross-encoder reranking, from one index.

Indexes the SciFact corpus once with the indexing pipeline of `examples/hybrid.yaml` (or
reuses the index), runs the BM25 and dense retrievers of its query pipeline for every train and
test query, and scores, from those same hits and with ragloom's own fusion functions:
BM25 alone, dense alone, RRF, and score fusion (min-max, z-score, DBSF) with the BM25/dense
weight chosen on the train split. Each retriever returns its configured `top_k` (or
--source-depth) and fusion groups hits as the config's fusion stage does (`group_by`).
The best fusion's candidates are then re-scored by the given cross-encoder (depth = the
deepest of --depths, computed once; a shallower depth reorders only its first candidates,
exactly as the reranker stage does). When the reranker was trained with
`--holdout`, its held-out train claims are reranked too and choose the stage's
`retrieval_weight` (the blend of reranker and fusion scores) per depth; the test rows then show
that weight's result. Cross-encoder scores are cached on disk per model, dtype and max length
(benchmarks/results/rerank-scores/), so a re-run only scores new pairs. Finally the real query
pipelines of `examples/hybrid.yaml` and `examples/hybrid-rerank.yaml` time --latency-queries test
queries end to end (p50/p95). Metrics: trec_eval via `ragloom.evaluation.metrics`.

    python benchmarks/hybrid_rerank.py --reranker benchmarks/results/scifact-reranker-v2
    python benchmarks/hybrid_rerank.py --config examples/hybrid-chunks.yaml \
        --index-dir benchmarks/results/scifact-hybrid-index --reranker ...  # chunk-level hybrid
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.config import RagConfig, load_config
from ragloom.evaluation.beir import load_split
from ragloom.evaluation.metrics import document_run, evaluate
from ragloom.evaluation.runner import ensure_index, ranking_pipeline
from ragloom.pipeline.graph import Pipeline
from ragloom.progress import progress_bar
from ragloom.rag import RAG
from ragloom.rerank.cross_encoder import load_cross_encoder
from ragloom.rerank.reranker import rerank_hits
from ragloom.retrievers.fusion import ReciprocalRankFusion, ScoreFusion
from ragloom.retrievers.score_fusion import by_document, reciprocal_rank_fusion, score_fusion
from ragloom.types import Hit

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
RESULTS = ROOT / "benchmarks" / "results"
ALPHAS = [round(0.1 * i, 1) for i in range(1, 10)]  # weight of dense; BM25 gets 1 - alpha
RETRIEVAL_WEIGHTS = [round(0.1 * i, 1) for i in range(0, 10)]  # reranker blend; 0 = reranker alone
METHODS = ("minmax", "zscore", "dbsf")

Hits = dict[str, list[Hit]]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def source_pipelines(config: RagConfig, depth: int | None) -> tuple[Pipeline, Pipeline]:
    """The hybrid config's own BM25 and dense retrievers, each alone, asked for their own
    `top_k` hits (or `depth`)."""
    query = config.query
    sparse = Pipeline(index_dir=query.index_dir)
    sparse.add("bm25", type(query.components["bm25"]).from_dict(query.components["bm25"].to_dict()))
    sparse.add_input("query", "bm25.query").add_output("hits", "bm25.hits")
    dense = Pipeline(index_dir=query.index_dir)
    for name in ("query_encoder", "dense"):
        component = query.components[name]
        dense.add(name, type(component).from_dict(component.to_dict()))
    dense.connect("query_encoder.embedding", "dense.query_embedding")
    dense.add_input("query", "query_encoder.query").add_output("hits", "dense.hits")
    for pipe in (sparse, dense):
        for component in pipe.components.values():
            if depth is not None:
                component.top_k = depth  # type: ignore[attr-defined]
        pipe.warm_up()
    return sparse, dense


def retrieve(pipe: Pipeline, queries: dict[str, str], desc: str) -> tuple[Hits, list[float]]:
    """Hits and per-query milliseconds of one retrieval pipeline."""
    hits, ms = {}, []
    with progress_bar(total=len(queries), desc=desc, unit="query") as bar:
        for qid, text in queries.items():
            began = time.perf_counter()
            hits[qid] = pipe.run({"query": text})["hits"]
            ms.append((time.perf_counter() - began) * 1000)
            bar.update(1)
    return hits, ms


def score(qrels: dict[str, dict[str, int]], hits: Hits) -> dict[str, float]:
    return evaluate(qrels, {qid: document_run(h, 100) for qid, h in hits.items()})


def group_by(config: RagConfig) -> str:
    """How the config's fusion stage groups hits: `chunk` or `document`."""
    for component in config.query.components.values():
        if isinstance(component, ReciprocalRankFusion | ScoreFusion):
            return component.group_by
    return "chunk"


def fuse(
    sparse: Hits, dense: Hits, method: str, alpha: float, top_k: int, grouping: str = "chunk"
) -> Hits:
    """Fused hits per query with ragloom's fusion functions (what the fusion stages run)."""
    out = {}
    for qid in sparse:
        lists = [sparse[qid], dense[qid]]
        if grouping == "document":
            lists = by_document(lists)
        if method == "rrf":
            fused = reciprocal_rank_fusion(lists, 60)
        else:
            weights = {"bm25": 1.0 - alpha, "dense": alpha}
            fused = score_fusion(lists, method=method, weights=weights)
        out[qid] = fused[:top_k]
    return out


def _pair_key(query: str, passage: str) -> str:
    return hashlib.sha1(f"{query}\0{passage}".encode()).hexdigest()


class CachedScores:
    """Cross-encoder scores computed once per (query, passage) and kept in a JSON file per
    model, dtype and max length; `score` looks them up, so every rerank depth and weight reuses
    the same real model outputs."""

    def __init__(self, model: str, dtype: str, max_length: int) -> None:
        card = Path(model) / "ragloom_reranker.json"
        identity = card.read_text() if card.is_file() else model
        tag = hashlib.sha1(f"{identity}|{dtype}|{max_length}".encode()).hexdigest()[:12]
        self.path = RESULTS / "rerank-scores" / f"{tag}.json"
        self.table: dict[str, float] = (
            json.loads(self.path.read_text()) if self.path.is_file() else {}
        )

    def missing(self, query: str, passages: Sequence[str]) -> bool:
        return any(_pair_key(query, p) not in self.table for p in passages)

    def add(self, query: str, passages: Sequence[str], scores: Sequence[float]) -> None:
        for passage, value in zip(passages, scores, strict=True):
            self.table[_pair_key(query, passage)] = float(value)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.table))

    def score(self, query: str, passages: Sequence[str], **_: Any) -> np.ndarray:
        return np.array([self.table[_pair_key(query, p)] for p in passages], dtype=np.float32)


def rerank_all(
    cache: CachedScores,
    model: str,
    queries: dict[str, str],
    fused: Hits,
    depth: int,
    dtype: str,
    max_length: int,
) -> list[float]:
    """Score the first `depth` fused candidates of every query not yet in `cache`; returns the
    milliseconds of each query scored now."""
    todo = [
        q for q in queries if cache.missing(queries[q], [h.chunk.text for h in fused[q][:depth]])
    ]
    if not todo:
        return []
    encoder = load_cross_encoder(model, dtype=dtype)  # type: ignore[arg-type]
    ms = []
    with progress_bar(total=len(todo), desc=f"reranking top {depth}", unit="query") as bar:
        for qid in todo:
            text, passages = queries[qid], [h.chunk.text for h in fused[qid][:depth]]
            began = time.perf_counter()
            scores = encoder.score(text, passages, max_length=max_length)
            ms.append((time.perf_counter() - began) * 1000)
            cache.add(text, passages, scores.tolist())
            bar.update(1)
    cache.save()
    return ms


def held_out_claims(model: str, queries: dict[str, str]) -> dict[str, str]:
    """The train queries the reranker was not trained on (its card's `held_out_queries`)."""
    card = Path(model) / "ragloom_reranker.json"
    if not card.is_file():
        return {}
    held = set(json.loads(card.read_text()).get("held_out_queries", []))
    return {qid: text for qid, text in queries.items() if text in held}


def reranked(
    cache: CachedScores, queries: dict[str, str], fused: Hits, depth: int, weight: float
) -> Hits:
    return {
        qid: rerank_hits(cache, queries[qid], hits, depth=depth, retrieval_weight=weight)  # type: ignore[arg-type]
        for qid, hits in fused.items()
        if qid in queries
    }


def end_to_end_ms(
    config: RagConfig, queries: list[str], change: Callable[[Pipeline], None]
) -> list[float]:
    """Milliseconds per query of a config's real ranking pipeline (after one warm-up query)."""
    pipe = ranking_pipeline(config.query)
    change(pipe)
    pipe.warm_up()
    pipe.run({"query": queries[0]})
    ms = []
    for text in queries:
        began = time.perf_counter()
        pipe.run({"query": text})
        ms.append((time.perf_counter() - began) * 1000)
    return ms


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def print_curves(
    title: str,
    steps: list[float],
    curves: dict[str, dict[float, tuple[float, float]]],
    splits: tuple[str, str],
) -> None:
    """A markdown table: one row per (curve, split), one nDCG@10 column per step."""
    print(f"\n| {title} | " + " | ".join(str(x) for x in steps) + " |")
    print("|---|" + "---|" * len(steps))
    for name, curve in curves.items():
        for i, split in enumerate(splits):
            cells = " | ".join(f"{curve[x][i]:.4f}" for x in steps)
            print(f"| {name} {split} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "hybrid.yaml")
    parser.add_argument(
        "--rerank-config", type=Path, default=ROOT / "examples" / "hybrid-rerank.yaml"
    )
    parser.add_argument("--reranker", required=True, help="cross-encoder folder or hub id")
    parser.add_argument("--index-dir", type=Path, default=RESULTS / "scifact-hybrid-index")
    parser.add_argument(
        "--source-depth", type=int, default=None, help="hits per retriever (default: its top_k)"
    )
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--dtype", default="float32", help="reranker dtype for quality rows")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--latency-queries", type=int, default=100)
    parser.add_argument("--limit-queries", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    config = load_config(args.config)
    rag = RAG(config, args.index_dir)
    _, index_seconds, documents = ensure_index(rag, args.dataset.resolve(), log)
    sparse_pipe, dense_pipe = source_pipelines(config, args.source_depth)
    grouping = group_by(config)
    splits = {}
    for split in ("train", "test"):
        queries, qrels = load_split(args.dataset, split, args.limit_queries)
        sparse, sparse_ms = retrieve(sparse_pipe, queries, f"{split}: bm25")
        dense, dense_ms = retrieve(dense_pipe, queries, f"{split}: dense")
        splits[split] = (queries, qrels, sparse, dense, sparse_ms, dense_ms)

    rows: dict[str, dict[str, Any]] = {}
    queries, qrels, sparse, dense, sparse_ms, dense_ms = splits["test"]
    rows["BM25"] = score(qrels, sparse) | {"ms_p50": pct(sparse_ms, 50)}
    rows["dense"] = score(qrels, dense) | {"ms_p50": pct(dense_ms, 50)}
    rows["hybrid RRF (k=60)"] = score(qrels, fuse(sparse, dense, "rrf", 0, 1000, grouping))

    curves: dict[str, dict[float, tuple[float, float]]] = {}
    chosen: dict[str, float] = {}
    for method in METHODS:
        curve = {}
        for alpha in ALPHAS:
            train = splits["train"]
            train_ndcg = score(train[1], fuse(train[2], train[3], method, alpha, 1000, grouping))[
                "ndcg@10"
            ]
            test_ndcg = score(qrels, fuse(sparse, dense, method, alpha, 1000, grouping))["ndcg@10"]
            curve[alpha] = (train_ndcg, test_ndcg)
        curves[method] = curve
        chosen[method] = max(ALPHAS, key=lambda a: (curve[a][0], -abs(a - 0.5)))
        alpha = chosen[method]
        rows[f"hybrid {method} (dense weight {alpha}, train-tuned)"] = score(
            qrels, fuse(sparse, dense, method, alpha, 1000, grouping)
        )
    best_method = max(METHODS, key=lambda m: curves[m][chosen[m]][0])
    best_alpha = chosen[best_method]
    log(f"best fusion on train: {best_method}, dense weight {best_alpha}")

    fused = fuse(sparse, dense, best_method, best_alpha, 1000, grouping)
    deepest = max(args.depths)
    cache = CachedScores(args.reranker, args.dtype, args.max_length)
    rerank_ms = rerank_all(
        cache, args.reranker, queries, fused, deepest, args.dtype, args.max_length
    )
    train = splits["train"]
    held = held_out_claims(args.reranker, train[0])
    held_qrels = {q: train[1][q] for q in held}
    held_fused = fuse(train[2], train[3], best_method, best_alpha, 1000, grouping)
    if held:
        log(f"{len(held)} held-out train claims choose retrieval_weight")
        rerank_all(cache, args.reranker, held, held_fused, deepest, args.dtype, args.max_length)
    weight_curves: dict[int, dict[float, tuple[float, float]]] = {}
    for depth in sorted(args.depths):
        rows[f"hybrid {best_method} + rerank depth {depth}"] = score(
            qrels, reranked(cache, queries, fused, depth, 0.0)
        )
        if not held:
            continue
        curve = {
            w: (
                score(held_qrels, reranked(cache, held, held_fused, depth, w))["ndcg@10"],
                score(qrels, reranked(cache, queries, fused, depth, w))["ndcg@10"],
            )
            for w in RETRIEVAL_WEIGHTS
        }
        weight_curves[depth] = curve
        weight = max(RETRIEVAL_WEIGHTS, key=lambda w: (curve[w][0], -w))
        rows[
            f"hybrid {best_method} + rerank depth {depth}, retrieval_weight {weight} "
            f"(tuned on {len(held)} held-out train claims)"
        ] = score(qrels, reranked(cache, queries, fused, depth, weight))
        rows[f"hybrid {best_method} on the {len(held)} held-out train claims"] = score(
            held_qrels, {q: h for q, h in held_fused.items() if q in held}
        )

    latency: dict[str, dict[str, float]] = {}
    texts = list(queries.values())[: args.latency_queries]
    if args.rerank_config.is_file():
        for name, path in (("hybrid", args.config), ("hybrid + rerank", args.rerank_config)):
            cfg = load_config(path)
            cfg.set_index_dir(args.index_dir)

            def use_reranker(pipe: Pipeline) -> None:
                for component in pipe.components.values():
                    if hasattr(component, "threshold") and hasattr(component, "depth"):
                        component.model = args.reranker  # type: ignore[attr-defined]

            ms = end_to_end_ms(cfg, texts, use_reranker)
            latency[name] = {"p50": pct(ms, 50), "p95": pct(ms, 95), "mean": statistics.fmean(ms)}

    result = {
        "documents": documents,
        "index_seconds": round(index_seconds, 1),
        "chunks": rag.chunk_counts(),
        "rows": rows,
        "curves": {m: {str(a): v for a, v in c.items()} for m, c in curves.items()},
        "chosen": chosen,
        "rerank_ms_per_query_at_depth": {
            str(deepest): {
                "p50": pct(rerank_ms, 50),
                "p95": pct(rerank_ms, 95),
                "n": len(rerank_ms),
            }
        },
        "retrieval_weight_curves": {
            str(d): {str(w): v for w, v in c.items()} for d, c in weight_curves.items()
        },
        "latency_end_to_end_ms": latency,
        "settings": vars(args) | {"dataset": str(args.dataset), "group_by": grouping},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hybrid_rerank.json").write_text(json.dumps(result, indent=2, default=str))
    print("| configuration (SciFact test) | nDCG@10 | Recall@100 | MRR@10 |")
    print("|---|---|---|---|")
    for name, metrics in rows.items():
        print(
            f"| {name} | {metrics['ndcg@10']:.4f} | {metrics['recall@100']:.4f} "
            f"| {metrics['mrr@10']:.4f} |"
        )
    print_curves("dense weight", ALPHAS, curves, ("train", "test"))
    if weight_curves:
        named = {f"depth {d},": c for d, c in weight_curves.items()}
        print_curves("retrieval_weight", RETRIEVAL_WEIGHTS, named, ("held-out train", "test"))
    print("\n| end to end (ranking pipeline) | p50 ms | p95 ms | mean ms |")
    print("|---|---|---|---|")
    for name, values in latency.items():
        print(f"| {name} | {values['p50']:.0f} | {values['p95']:.0f} | {values['mean']:.0f} |")
    if args.json:
        print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
