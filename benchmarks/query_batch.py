"""`ragloom eval`'s query time, one query at a time against batched (`RAG.query_batch`'s walk).

Runs the ranking part of a query pipeline over SciFact test claims on an existing index (read
only), as `ragloom eval` does, in two ways in one process, alternated over --rounds:

- one-by-one: `Pipeline.run` per claim (what `ragloom eval` did before --batch-size);
- batch N: `ragloom.pipeline.batched.run_many` over N claims at a time (the query encoder,
  Chroma and the reranker once per batch; what `ragloom eval --batch-size N` does).

Prints seconds per mode and round, nDCG@10 and whether the document rankings are identical.
The query encoder's cache is off, so every mode encodes every claim. Without a trained
reranker, --stand-in-reranker trains one for a few steps from the bundled MiniLM (the same
architecture and cost as `ragloom train-reranker`'s; its nDCG is not the example's).

    python benchmarks/query_batch.py --index-dir benchmarks/results/serve-scifact-hybrid
    python benchmarks/query_batch.py --index-dir benchmarks/results/serve-scifact-hybrid \\
        --config examples/hybrid-rerank.yaml --stand-in-reranker --limit 50
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from ragloom.config import config_from_dict
from ragloom.evaluation.beir import load_split
from ragloom.evaluation.metrics import document_run, evaluate
from ragloom.evaluation.runner import RUN_DEPTH, deepen, ranking_pipeline
from ragloom.pipeline.batched import run_many
from ragloom.pipeline.graph import Pipeline

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
Run = dict[str, dict[str, float]]

#: A few labelled pairs: enough to write a stand-in cross-encoder (its cost is a real one's).
STAND_IN_PAIRS = [
    {"query": "what is BM25", "positive": "BM25 ranks documents by term frequency."},
    {"query": "what does insulin do", "positive": "Insulin lowers the blood glucose level."},
    {"query": "what causes malaria", "positive": "Malaria is caused by Plasmodium parasites."},
    {"query": "how do vaccines work", "positive": "Vaccines train the immune system."},
]


def stand_in_reranker(folder: Path) -> Path:
    """A cross-encoder trained for 12 steps from the bundled MiniLM (seconds)."""
    from ragloom.rerank.training import TrainingOptions, train_reranker

    pairs = folder / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in STAND_IN_PAIRS), encoding="utf-8")
    options = TrainingOptions(
        miner="bm25", negatives=3, max_steps=12, max_length=48, warmup_ratio=0.0
    )
    train_reranker(pairs, folder / "model", options)
    return folder / "model"


def ranking(config: Path, index_dir: Path, depth: int, reranker: Path | None) -> Pipeline:
    """The ranking part of `config`'s query pipeline on `index_dir`, warm, no query cache."""
    data = yaml.safe_load(config.read_text())
    for component in data["query"]["components"].values():
        parameters = component.setdefault("init_parameters", {})
        if component["type"] == "query_encoder":
            parameters["cache_size"] = 0
        if component["type"] == "cross_encoder_reranker" and reranker is not None:
            parameters["model"] = str(reranker)
    rag_config = config_from_dict(data)
    rag_config.set_index_dir(index_dir)
    pipe = ranking_pipeline(rag_config.query)
    deepen(pipe, depth)
    pipe.warm_up()
    return pipe


def one_by_one(pipe: Pipeline, queries: dict[str, str], extra: dict[str, Any]) -> Run:
    return {
        qid: document_run(pipe.run({"query": text, **extra})["hits"], RUN_DEPTH)
        for qid, text in queries.items()
    }


def batched(pipe: Pipeline, queries: dict[str, str], extra: dict[str, Any], size: int) -> Run:
    items = list(queries.items())
    run: Run = {}
    for first in range(0, len(items), size):
        batch = items[first : first + size]
        outcomes = run_many(pipe, [{"query": text, **extra} for _, text in batch])
        for (qid, _), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                raise outcome
            run[qid] = document_run(outcome["hits"], RUN_DEPTH)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "hybrid.yaml")
    parser.add_argument("--limit", type=int, default=None, help="first N test claims only")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--stand-in-reranker", action="store_true")
    args = parser.parse_args()

    queries, qrels = load_split(DATASET, "test", args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        reranker = stand_in_reranker(Path(tmp)) if args.stand_in_reranker else None
        pipe = ranking(args.config, args.index_dir, args.depth, reranker)
        extra: dict[str, Any] = {"top_k": args.depth} if "top_k" in pipe.inputs else {}
        batched(pipe, dict(list(queries.items())[:8]), extra, 8)  # warm caches and threads
        modes = ["one-by-one", *(f"batch {n}" for n in args.batch_sizes)]
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        runs: dict[str, Run] = {}
        for round_ in range(args.rounds):
            for mode in modes if round_ % 2 == 0 else modes[::-1]:
                began = time.perf_counter()
                if mode == "one-by-one":
                    runs[mode] = one_by_one(pipe, queries, extra)
                else:
                    runs[mode] = batched(pipe, queries, extra, int(mode.split()[1]))
                seconds[mode].append(time.perf_counter() - began)
                print(f"round {round_ + 1} {mode:<11} {seconds[mode][-1]:7.1f} s", flush=True)
    reference = runs["one-by-one"]
    print(f"{args.config.name}, {len(queries)} claims, depth {args.depth}, {platform.node()}")
    for mode in modes:
        ndcg = evaluate(qrels, runs[mode])["ndcg@10"]
        first = [_first_difference(runs[mode][q], reference[q]) for q in queries]
        moved = [rank for rank in first if rank is not None]
        same = f"{len(moved)} claims differ" + (f", first at rank {min(moved)}" if moved else "")
        drift = max(
            (
                abs(score - reference[q][doc])
                for q in queries
                for doc, score in runs[mode][q].items()
                if doc in reference[q]
            ),
            default=0.0,
        )
        best = min(seconds[mode])
        print(
            f"{mode:<11} best {best:7.1f} s ({1000 * best / len(queries):6.1f} ms/claim)  "
            f"x{min(seconds['one-by-one']) / best:4.2f}  nDCG@10 {ndcg:.6f}  "
            f"rankings vs one-by-one: {same}  max score drift {drift:.2e}"
        )


def _order(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda doc: (-scores[doc], doc))


def _first_difference(run: dict[str, float], reference: dict[str, float]) -> int | None:
    """The first rank (1-based) where two document rankings differ; None if they are equal."""
    ours, theirs = _order(run), _order(reference)
    if ours == theirs:
        return None
    return next(
        (n for n, (a, b) in enumerate(zip(ours, theirs, strict=False), 1) if a != b),
        min(len(ours), len(theirs)) + 1,
    )


if __name__ == "__main__":
    main()
