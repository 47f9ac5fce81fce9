"""Reranking at depth 20 by inference backend, on SciFact: `examples/hybrid-rerank.yaml`'s
cross-encoder on torch fp32 (the reference), torch bf16, onnx fp32, onnx int8 and openvino, with the
nDCG@10 each gives and its reranking time, side by side.

For every test claim the hybrid retrieval runs once (the config's stages before the reranker,
fusion asked for 100 documents as `ragloom eval --depth 100` does); then each backend's
reranker re-scores the same 20 best documents, in an order that rotates per claim so load hits
every backend alike. Per backend: nDCG@10 (pytrec_eval, via `ragloom.evaluation.metrics`), the
reranker's p50 / mean ms per claim, the whole query's p50 (retrieval + that reranker), and the
speed-up over torch fp32. Two warm-up claims per backend are not timed.

Each backend's reranking is also a share of this machine's matmul peak, measured at the start
of the run (`roofline.matmul_peak`, `--peak-sizes`/`--peak-repeat`): the cross-encoder's FLOPs
(`roofline.model_flops` over the padded tokens of the batches of pairs it scored, counted with
its own `batches`) over its reranking time, both summed over the timed claims, as GFLOP/s and
a % of the float32 peak and of the peak of the backend's own type (torch bf16: bfloat16, onnx
int8: ONNX Runtime's MatMulInteger, openvino: bfloat16 where the CPU has a bf16 flag).

    python benchmarks/rerank_backends.py --index-dir DIR --reranker models/scifact-reranker
    python benchmarks/rerank_backends.py --index-dir DIR --reranker DIR --limit-queries 20
    python benchmarks/rerank_backends.py --index-dir DIR --reranker DIR --limit-queries 5 \
        --peak-sizes 256 --peak-repeat 1      # smoke

The index is one built with examples/hybrid.yaml (or hybrid-rerank.yaml: the same indexing).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from peak_share import (
    SHARE_HEADER,
    SHARE_RULE,
    add_peak_options,
    measure_peak,
    own_kind,
    peak_share,
    share_cells,
)
from roofline import padded_flops

from ragloom.config import load_config
from ragloom.evaluation.beir import load_split
from ragloom.evaluation.metrics import document_run, evaluate
from ragloom.evaluation.runner import deepen, ranking_pipeline
from ragloom.rerank.cross_encoder import load_cross_encoder
from ragloom.rerank.reranker import CrossEncoderReranker, split_candidates
from ragloom.types import Hit

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
#: backend -> the reranker settings that select it.
BACKENDS: dict[str, dict[str, str]] = {
    "torch fp32": {"backend": "torch", "dtype": "float32"},
    "torch bf16": {"backend": "torch", "dtype": "bfloat16"},
    "onnx fp32": {"backend": "onnx"},
    "onnx int8": {"backend": "onnx", "quantize": "int8"},
    "openvino": {"backend": "openvino", "dtype": "auto"},  # bfloat16 where the CPU has it
}
DEPTH = 100  # documents fusion returns, as `ragloom eval --depth 100`


def rerankers(config_path: Path, model: str, chosen: list[str]) -> dict[str, CrossEncoderReranker]:
    """The config's reranker stage once per backend, with `model` as its weights."""
    config = load_config(config_path)
    stage = next(c for c in config.query.components.values() if isinstance(c, CrossEncoderReranker))
    base = {k: v for k, v in stage.init_parameters.items() if k not in ("backend", "dtype")}
    out = {}
    for name in chosen:
        settings = {**base, "model": model, "top_k": DEPTH, **BACKENDS[name]}
        reranker = CrossEncoderReranker(**settings)
        reranker.warm_up()
        out[name] = reranker
    return out


def scored_flops(stage: CrossEncoderReranker, query: str, hits: list[Hit]) -> float:
    """Matmul FLOPs of `stage.run(query, hits)`: the padded tokens of the batches of (query,
    candidate) pairs its cross-encoder scores, counted with that encoder's own `batches`."""
    candidates, _ = split_candidates(hits, stage.depth)
    if not candidates:
        return 0.0
    cross = load_cross_encoder(
        stage.model, stage.device, stage.dtype, stage.backend, stage.quantize, stage.threads
    )
    texts = [hit.chunk.text for hit in candidates]
    batches = cross.batches(
        texts, batch_size=stage.batch_size, max_length=stage.max_length, query=query
    )
    return padded_flops(cross.config, batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--reranker", required=True, help="a trained cross-encoder folder")
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "hybrid-rerank.yaml")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--limit-queries", type=int)
    parser.add_argument("--split", default="test")
    add_peak_options(parser)
    args = parser.parse_args()

    peak = measure_peak(args.peak_sizes, args.peak_repeat)
    config = load_config(args.config)
    config.set_index_dir(args.index_dir)
    reranker_name = next(
        n for n, c in config.query.components.items() if isinstance(c, CrossEncoderReranker)
    )
    feed = next(
        str(c.sender)
        for c in config.query.connections
        if c.receiver.component == reranker_name and c.receiver.socket == "hits"
    )
    retrieval = ranking_pipeline(config.query, feed)  # the stages before the reranker
    deepen(retrieval, DEPTH)
    retrieval.warm_up()
    stages = rerankers(args.config, args.reranker, args.backends)

    queries, qrels = load_split(DATASET, args.split, args.limit_queries)
    runs: dict[str, dict[str, dict[str, float]]] = {name: {} for name in stages}
    rerank_ms: dict[str, list[float]] = {name: [] for name in stages}
    total_ms: dict[str, list[float]] = {name: [] for name in stages}
    flops: dict[str, float] = {name: 0.0 for name in stages}
    names = list(stages)
    for n, (qid, text) in enumerate(queries.items()):
        began = time.perf_counter()
        hits = retrieval.run({"query": text})["hits"]
        retrieval_ms = (time.perf_counter() - began) * 1000
        order = names[n % len(names) :] + names[: n % len(names)]
        for name in order:
            began = time.perf_counter()
            ranked = stages[name].run(query=text, hits=hits)["hits"]
            ms = (time.perf_counter() - began) * 1000
            runs[name][qid] = document_run(ranked, DEPTH)
            if n >= 2:  # two warm-up claims
                rerank_ms[name].append(ms)
                total_ms[name].append(retrieval_ms + ms)
                flops[name] += scored_flops(stages[name], text, hits)
        if (n + 1) % 50 == 0:
            print(f"  {n + 1}/{len(queries)} claims", flush=True)

    reference = statistics.median(rerank_ms[names[0]])
    print(f"\n{len(queries)} {args.split} claims, reranking depth 20, reranker {args.reranker}")
    print(
        "| backend | nDCG@10 | Δ vs first | rerank p50 ms | rerank mean ms | query p50 ms |", end=""
    )
    print(f" speed-up (rerank p50) | {SHARE_HEADER} |")
    print(f"|---|---:|---:|---:|---:|---:|---:|{SHARE_RULE}")
    first: dict[str, Any] = {}
    for name in names:
        ndcg = evaluate(qrels, runs[name])["ndcg@10"]
        first.setdefault("ndcg", ndcg)
        p50 = statistics.median(rerank_ms[name])
        stage = stages[name]
        kind = own_kind(stage.backend, stage.dtype, stage.quantize)
        share = peak_share(flops[name], sum(rerank_ms[name]) / 1000, kind, peak)
        print(
            f"| {name} | {ndcg:.4f} | {ndcg - first['ndcg']:+.4f} | {p50:.1f} | "
            f"{statistics.fmean(rerank_ms[name]):.1f} | {statistics.median(total_ms[name]):.1f} "
            f"| {reference / p50:.2f}x | {share_cells(share)} |"
        )


if __name__ == "__main__":
    main()
