"""BM25 at scale: rank-bm25 vs ragloom's bm25s backend on synthetic Zipfian corpora.

For each corpus size: documents of ~100 tokens (Poisson) drawn from a 50k-word Zipfian
vocabulary (seeded numpy RNG), queries of 2-5 terms (half drawn Zipfian, so many hit words in
most documents and BM25Okapi's negative-idf floor, half uniform over the vocabulary). Measures
build time, the bm25s index's save and memory-mapped load, queries/second (one query = scores
+ matching entries + top-10 with the chunk-id tie-break, as `BM25Store.search` does, without
tokenizing), and the fraction of queries whose top-10 id lists are identical. rank-bm25 runs
only the first `--rank-queries` queries at sizes above 100k documents (~0.5-1 s per query).

Run:  python benchmarks/bm25_scale.py [--sizes 10000 100000 500000] [--queries 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ragloom.retrievers.bm25_scoring import BM25sScorer, RankBM25Scorer, Scorer, top_positive

VOCAB = 50_000
ZIPF_S = 1.0
DOC_LENGTH = 100


def zipf_probabilities(vocab: int = VOCAB, s: float = ZIPF_S) -> np.ndarray:
    p = 1.0 / np.arange(1, vocab + 1) ** s
    return p / p.sum()


def synthetic_corpus(n_docs: int, seed: int) -> list[list[str]]:
    """`n_docs` token lists, lengths Poisson(100) (at least 1), words `w<rank>`."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(VOCAB)], dtype=object)
    lengths = np.maximum(rng.poisson(DOC_LENGTH, n_docs), 1)
    flat = words[rng.choice(VOCAB, int(lengths.sum()), p=zipf_probabilities())]
    return [part.tolist() for part in np.split(flat, np.cumsum(lengths)[:-1])]


def synthetic_queries(n_queries: int, seed: int) -> list[list[str]]:
    """2-5 terms each; every term Zipfian or uniform with equal odds."""
    rng = np.random.default_rng(seed)
    p = zipf_probabilities()
    queries = []
    for _ in range(n_queries):
        length = int(rng.integers(2, 6))
        zipfian = rng.choice(VOCAB, length, p=p)
        uniform = rng.integers(0, VOCAB, length)
        picks = np.where(rng.random(length) < 0.5, zipfian, uniform)
        queries.append([f"w{i}" for i in picks])
    return queries


def run_queries(
    scorer: Scorer, queries: Sequence[list[str]], keys: list[str]
) -> tuple[float, list[list[int]], list[np.ndarray]]:
    """Seconds for all queries, and each query's top-10 indices and scores."""
    tops, scores_at = [], []
    start = time.perf_counter()
    for query in queries:
        scores = scorer.scores(query)
        best = top_positive(scores, keys, 10, scorer.matches(query))
        tops.append(best)
        scores_at.append(scores[best])
    return time.perf_counter() - start, tops, scores_at


def measure(n_docs: int, n_queries: int, rank_queries: int, seed: int) -> dict:
    """One corpus size: build, save/load, query speed and agreement of both backends."""
    started = time.perf_counter()
    corpus = synthetic_corpus(n_docs, seed)
    queries = synthetic_queries(n_queries, seed + 1)
    keys = [f"d{n:07d}" for n in range(n_docs)]
    generated = time.perf_counter() - started
    row: dict = {"docs": n_docs, "tokens": sum(map(len, corpus)), "generate_s": generated}

    start = time.perf_counter()
    built = BM25sScorer.build(corpus)
    row["bm25s_build_s"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="bm25-scale-") as folder:
        start = time.perf_counter()
        built.save(Path(folder))
        row["bm25s_save_s"] = time.perf_counter() - start
        row["bm25s_index_mb"] = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
        del built
        start = time.perf_counter()
        sparse = BM25sScorer.load(Path(folder), mmap=True)
        row["bm25s_load_s"] = time.perf_counter() - start
        run_queries(sparse, queries[:5], keys)  # page the hottest columns in
        seconds, sparse_top, sparse_scores = run_queries(sparse, queries, keys)
        row["bm25s_qps"] = len(queries) / seconds

    start = time.perf_counter()
    reference = RankBM25Scorer(corpus)
    row["rank_bm25_build_s"] = time.perf_counter() - start
    del corpus
    compared = queries if n_docs <= 100_000 else queries[:rank_queries]
    seconds, rank_top, rank_scores = run_queries(reference, compared, keys)
    row["rank_bm25_queries"] = len(compared)
    row["rank_bm25_qps"] = len(compared) / seconds
    row["speedup"] = row["bm25s_qps"] / row["rank_bm25_qps"]
    same = [a == b for a, b in zip(sparse_top, rank_top, strict=False)]
    row["top10_identical"] = sum(same) / len(same)
    worst = 0.0
    for a, b in zip(sparse_scores, rank_scores, strict=False):
        if len(a) == len(b) and len(a):
            worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))))
    row["max_rel_score_diff"] = worst
    return row


def table(rows: list[dict]) -> str:
    header = (
        "| documents | tokens | build s rank-bm25 / bm25s | bm25s save s / mmap load s | "
        "index MB | queries/s rank-bm25 (queries) | queries/s bm25s | speed-up | "
        "top-10 identical | max rel. score diff |"
    )
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['docs']:,} | {r['tokens']:,} | {r['rank_bm25_build_s']:.1f} / "
            f"{r['bm25s_build_s']:.1f} | {r['bm25s_save_s']:.2f} / {r['bm25s_load_s']:.3f} | "
            f"{r['bm25s_index_mb']:.0f} | {r['rank_bm25_qps']:.2f} ({r['rank_bm25_queries']}) | "
            f"{r['bm25s_qps']:.1f} | {r['speedup']:.0f}x | {r['top10_identical']:.1%} | "
            f"{r['max_rel_score_diff']:.1e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 500_000])
    parser.add_argument("--queries", type=int, default=300, help="queries per size (bm25s)")
    parser.add_argument(
        "--rank-queries", type=int, default=20, help="rank-bm25 queries above 100k documents"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rows = []
    for size in args.sizes:
        rows.append(measure(size, args.queries, args.rank_queries, args.seed))
        if not args.json:
            print(f"{size:,} documents done", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"python": platform.python_version(), "rows": rows}))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
