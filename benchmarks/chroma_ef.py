"""Chroma HNSW `ef_search` against exact search: recall@10/100/300 and query latency per ef.

Over a copy of an existing ragloom Chroma store (the original is never opened: Chroma may write
even when reading), SciFact test claims are encoded like `query_encoder` does (bundled MiniLM)
and searched with HNSW at each ef_search, and exactly by numpy over every stored embedding.
Recall@k is the share of HNSW's first k results whose exact cosine is at least the exact k-th
best (so duplicate sentences tied at the cut count as found). The pipeline's view is one query
for 300 results (examples/hybrid.yaml's dense top_k), cut to 10 and 100; "recall@10 (k=10)"
asks Chroma for only 10, where a small ef really is used. Latency: one query at a time and 32
per `collection.query`, each the best median of --rounds sweeps over the ef values.

Chroma 1.5 stores ef_search in the collection's configuration (`collection.modify`), but an
open client keeps searching with the value it loaded: each ef is set, the client's system cache
cleared and the collection opened again.

    python benchmarks/chroma_ef.py  # the serve-scifact-hybrid index, ef 10..1000
    python benchmarks/chroma_ef.py --index /tmp/hybrid-index/chroma --ef 50 100 --queries 50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
INDEX = ROOT / "benchmarks" / "results" / "serve-scifact-hybrid" / "chroma"
KS = (10, 100, 300)
BATCH = 32


def open_collection(path: Path, name: str) -> Any:
    """A fresh client's handle on the collection (any cached client for `path` is dropped first,
    so the collection's stored configuration is read again)."""
    import chromadb
    from chromadb.api.client import SharedSystemClient
    from chromadb.config import Settings

    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )
    return client.get_collection(name, embedding_function=None)


def set_ef(path: Path, name: str, ef: int) -> Any:
    """Store `ef` as the collection's ef_search and reopen it so searches use it."""
    open_collection(path, name).modify(configuration={"hnsw": {"ef_search": ef}})
    collection = open_collection(path, name)
    stored = collection.configuration["hnsw"]["ef_search"]
    if stored != ef:
        raise RuntimeError(f"ef_search reads back as {stored} after setting {ef}")
    return collection


def stored_embeddings(collection: Any, batch: int = 5000) -> tuple[list[str], np.ndarray]:
    """Every id and its embedding, L2-normalised (cosine space), in pages of `batch`."""
    ids: list[str] = []
    parts = []
    for offset in range(0, collection.count(), batch):
        rows = collection.get(include=["embeddings"], limit=batch, offset=offset)
        ids += rows["ids"]
        parts.append(np.asarray(rows["embeddings"], dtype=np.float32))
    vectors = np.concatenate(parts)
    return ids, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def query_embeddings(limit: int | None) -> np.ndarray:
    """SciFact test claims encoded by ragloom's `query_encoder` (bundled MiniLM, batched)."""
    from ragloom.chunking.encoders import QueryEncoder
    from ragloom.evaluation.beir import load_split

    queries, _ = load_split(DATASET, "test")
    claims = list(queries.values())[:limit]
    calls = QueryEncoder(model="minilm").run_batch([{"query": claim} for claim in claims])
    return np.asarray([call["embedding"] for call in calls], dtype=np.float32)


def kth_best(sims: np.ndarray, k: int) -> np.ndarray:
    """Each row's k-th largest similarity."""
    return -np.partition(-sims, k - 1, axis=1)[:, k - 1]


def recall(found: list[list[str]], sims: np.ndarray, row_of: dict[str, int], k: int) -> float:
    """Mean share of each query's first k found ids whose exact similarity reaches the k-th best."""
    floor = kth_best(sims, k) - 1e-6
    shares = [
        np.mean([sims[q, row_of[i]] >= floor[q] for i in ids[:k]]) if ids else 0.0
        for q, ids in enumerate(found)
    ]
    return float(np.mean(shares))


def search(collection: Any, queries: np.ndarray, k: int) -> list[list[str]]:
    """Chroma's ids for every query, `BATCH` queries per call (as ragloom asks: distances only)."""
    found: list[list[str]] = []
    for begin in range(0, len(queries), BATCH):
        part = queries[begin : begin + BATCH].tolist()
        found += collection.query(query_embeddings=part, n_results=k, include=["distances"])["ids"]
    return found


def latency_ms(run: Callable[[np.ndarray], Any], queries: np.ndarray, size: int) -> float:
    """Median milliseconds of `run` on consecutive groups of `size` queries."""
    times = []
    for begin in range(0, len(queries) - size + 1, size):
        part = queries[begin : begin + size]
        began = time.perf_counter()
        run(part)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def chroma_runner(collection: Any, k: int) -> Callable[[np.ndarray], Any]:
    return lambda part: collection.query(
        query_embeddings=part.tolist(), n_results=k, include=["distances"]
    )


def exact_runner(vectors: np.ndarray, k: int) -> Callable[[np.ndarray], Any]:
    """Exact top-k in numpy: one matrix product, argpartition, then sort the k."""

    def run(part: np.ndarray) -> np.ndarray:
        sims = part @ vectors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        return np.take_along_axis(top, order, axis=1)

    return run


def measure(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    collection = open_collection(store, args.collection)
    ids, vectors = stored_embeddings(collection)
    row_of = {chunk_id: row for row, chunk_id in enumerate(ids)}
    queries = query_embeddings(args.queries)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    sims = queries @ vectors.T
    top = max(KS)
    rows: dict[str, dict[str, float]] = {}
    for ef in args.ef:
        collection = set_ef(store, args.collection, ef)
        found = search(collection, queries, top)
        rows[str(ef)] = {f"recall@{k}": recall(found, sims, row_of, k) for k in KS}
        rows[str(ef)]["recall@10 (k=10)"] = recall(
            search(collection, queries, 10), sims, row_of, 10
        )
    rows["exact"] = {f"recall@{k}": 1.0 for k in KS} | {"recall@10 (k=10)": 1.0}
    for _ in range(args.rounds):
        for ef in args.ef:
            collection = set_ef(store, args.collection, ef)
            _time_into(rows[str(ef)], chroma_runner(collection, top), queries)
        _time_into(rows["exact"], exact_runner(vectors, top), queries)
    return {"stored": len(ids), "queries": len(queries), "rows": rows}


def _time_into(
    row: dict[str, float], run: Callable[[np.ndarray], Any], queries: np.ndarray
) -> None:
    """Warm up, then keep the best median latency of one and of 32 queries seen so far."""
    run(queries[:BATCH])
    for size, key in ((1, "ms_1"), (BATCH, f"ms_{BATCH}")):
        ms = latency_ms(run, queries, size)
        row[key] = min(row.get(key, float("inf")), ms)


def report(result: dict[str, Any], load: tuple[float, float]) -> None:
    print(
        f"{result['stored']} stored embeddings, {result['queries']} SciFact test claims, "
        f"top_k {max(KS)}; load average {load[0]:.2f} at start, {load[1]:.2f} at end"
    )
    print(
        "| ef_search | recall@10 | recall@100 | recall@300 | recall@10 (k=10) | "
        f"1 query ms | {BATCH} queries ms | ms per query in {BATCH} |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for ef, row in result["rows"].items():
        print(
            f"| {ef} | {row['recall@10']:.4f} | {row['recall@100']:.4f} | "
            f"{row['recall@300']:.4f} | {row['recall@10 (k=10)']:.4f} | {row['ms_1']:.2f} | "
            f"{row[f'ms_{BATCH}']:.1f} | {row[f'ms_{BATCH}'] / BATCH:.2f} |"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=INDEX, help="a ragloom chroma/ folder")
    parser.add_argument("--collection", default="ragloom")
    parser.add_argument("--ef", type=int, nargs="+", default=[10, 50, 100, 200, 300, 500, 1000])
    parser.add_argument("--queries", type=int, default=None, help="first N test claims")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="chroma-ef-") as tmp:
        store = Path(tmp) / "chroma"
        shutil.copytree(args.index, store)
        result = measure(args, store)
    report(result, (start, os.getloadavg()[0]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
