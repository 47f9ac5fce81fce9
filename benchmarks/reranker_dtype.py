"""Cross-encoder throughput and score drift by precision: float32 (reference), bfloat16, and, for
reference only, PyTorch's dynamic int8 quantization (not a ragloom option).

Pairs are SciFact test claims with 20 passages each (128-token windows of corpus abstracts,
like examples/hybrid-chunks.yaml's chunks), scored through ragloom's `CrossEncoder` (length-sorted
batches of 16, pairs cut to 256 tokens). Each precision is timed best of --repeat passes; drift
is the largest score difference from float32 and the share of each claim's top 10 kept.

    python benchmarks/reranker_dtype.py --reranker benchmarks/results/scifact-reranker-v2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ragloom.evaluation.beir import load_split
from ragloom.loaders.files import load_beir_corpus
from ragloom.rerank.cross_encoder import CrossEncoder

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"


def workload(encoder: CrossEncoder, claims: int, per_claim: int) -> list[tuple[str, list[str]]]:
    """(claim, passages) pairs: 128-token windows of consecutive corpus abstracts."""
    queries, _ = load_split(DATASET, "test")
    docs = load_beir_corpus(DATASET)
    tokenizer = encoder.tokenizer
    work = []
    for n, claim in enumerate(list(queries.values())[:claims]):
        passages = []
        for doc in docs[n * per_claim : (n + 1) * per_claim]:
            ids = tokenizer(doc.text, add_special_tokens=False)["input_ids"][:128]
            passages.append(tokenizer.decode(ids))
        work.append((claim, passages))
    return work


def timed(encoder: CrossEncoder, work: list[tuple[str, list[str]]], repeat: int) -> tuple:
    """(best pairs/s, scores of the last pass)."""
    best, scores = 0.0, []
    for _ in range(repeat):
        began = time.perf_counter()
        scores = [encoder.score(q, p, batch_size=16, max_length=256) for q, p in work]
        pairs = sum(len(p) for _, p in work)
        best = max(best, pairs / (time.perf_counter() - began))
    return best, scores


def drift(reference: list[np.ndarray], other: list[np.ndarray]) -> dict[str, float]:
    top = [
        len(set(np.argsort(-r)[:10]) & set(np.argsort(-o)[:10])) / 10
        for r, o in zip(reference, other, strict=True)
    ]
    diff = max(float(np.abs(r - o).max()) for r, o in zip(reference, other, strict=True))
    return {"max_abs_diff": diff, "top10_kept": float(np.mean(top))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", required=True)
    parser.add_argument("--claims", type=int, default=20)
    parser.add_argument("--per-claim", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    reference = CrossEncoder(args.reranker, device="cpu", dtype="float32")
    work = workload(reference, args.claims, args.per_claim)
    rows = {}
    fp32_speed, fp32_scores = timed(reference, work, args.repeat)
    rows["float32"] = {"pairs_per_s": fp32_speed, "max_abs_diff": 0.0, "top10_kept": 1.0}
    bf16 = CrossEncoder(args.reranker, device="cpu", dtype="bfloat16")
    speed, scores = timed(bf16, work, args.repeat)
    rows["bfloat16"] = {"pairs_per_s": speed, **drift(fp32_scores, scores)}
    int8 = CrossEncoder(args.reranker, device="cpu", dtype="float32")
    int8.model = torch.ao.quantization.quantize_dynamic(
        int8.model, {torch.nn.Linear}, dtype=torch.qint8
    )
    speed, scores = timed(int8, work, args.repeat)
    rows["int8 dynamic (reference only)"] = {"pairs_per_s": speed, **drift(fp32_scores, scores)}

    print(
        f"{len(work)} claims x {args.per_claim} passages, torch threads {torch.get_num_threads()}"
    )
    print("| precision | pairs/s (best) | vs float32 | max score diff | top-10 kept |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['pairs_per_s']:.1f} | {row['pairs_per_s'] / fp32_speed:.2f}x | "
            f"{row['max_abs_diff']:.3f} | {row['top10_kept']:.0%} |"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
