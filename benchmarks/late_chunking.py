"""Late vs naive chunking on BEIR SciFact with the bundled MiniLM: nDCG@10, Recall@100, encode time.

Each configuration's chunk embeddings are computed once by the real ragloom stages and cached
(benchmarks/results/cache); scoring is exact cosine search (no HNSW approximation), a document
scoring its best chunk, metrics by trec_eval. A blend row `normalise(w*late + (1-w)*naive)` is
derived from the cached naive and late rows; w is tuned on the train split and reported on test.

The sentence pair (one sentence per chunk) is exactly examples/naive-chunking.yaml and
examples/late-chunking.yaml (its late encoder unblended here; the blend row is the example).

    python benchmarks/late_chunking.py --only naive-sent --only late-sent  # the example configs
    python benchmarks/late_chunking.py --only naive-64 --only late-64      # 64-token chunks
    python benchmarks/late_chunking.py                                     # every configuration
    python benchmarks/late_chunking.py --limit-docs 200 --only late-64     # a quick smoke run
    python benchmarks/late_chunking.py --timing 200                        # interleaved timing only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ragloom.chunking.encoders import ChunkEncoder, QueryEncoder
from ragloom.chunking.late import LateChunkingEncoder
from ragloom.chunking.token_window import TokenWindowChunker
from ragloom.component import Component, output_types
from ragloom.config import load_config
from ragloom.evaluation.beir import load_split
from ragloom.evaluation.metrics import evaluate, per_query
from ragloom.loaders.files import load_beir_corpus
from ragloom.types import Chunk, Document

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
RESULTS = ROOT / "benchmarks" / "results"
WEIGHTS = [round(0.1 * i, 1) for i in range(1, 10)]


class WholeDocument(Component):
    """One chunk per document (the document-level baseline)."""

    @output_types(chunks=list[Chunk])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {"chunks": [Chunk.from_span(d, 0, len(d.text), 0) for d in documents]}


def _examples() -> tuple[Component, Component, Component]:
    """The chunker and both encoders of examples/{naive,late}-chunking.yaml (late unblended)."""
    naive = load_config(ROOT / "examples" / "naive-chunking.yaml").indexing.components
    late = load_config(ROOT / "examples" / "late-chunking.yaml").indexing.components["encoder"]
    pure_late = LateChunkingEncoder(**{**late.init_parameters, "late_weight": 1.0})
    return naive["chunker"], naive["encoder"], pure_late


def configs() -> dict[str, tuple[Component, Component]]:
    """Name -> (chunker, encoder). The sentence pair is exactly the example configs'."""
    sentence, naive_sent, late_sent = _examples()
    token64 = TokenWindowChunker(chunk_size=64, overlap=0, tokenizer="minilm")
    token128 = TokenWindowChunker(chunk_size=128, overlap=0)
    return {
        "doc": (WholeDocument(), ChunkEncoder()),
        "naive-64": (token64, ChunkEncoder(batch_size=32)),
        "late-64": (token64, LateChunkingEncoder(batch_size=32)),
        "naive-128": (token128, ChunkEncoder()),
        "late-128": (token128, LateChunkingEncoder()),
        "naive-sent": (sentence, naive_sent),
        "late-sent": (sentence, late_sent),
    }


def _key(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def encode_corpus(
    name: str, docs: list[Document], cache: Path, fresh: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(chunk embeddings, chunk -> document row, timing info), from the cache when present."""
    chunker, encoder = configs()[name]
    tag = _key(chunker.to_dict(), encoder.to_dict(), [d.id for d in docs])
    path = cache / f"{name}-{tag}.npz"
    if path.exists() and not fresh:
        data = np.load(path, allow_pickle=False)
        return data["emb"], data["doc"], json.loads(str(data["meta"]))
    chunks = chunker.run(documents=docs)["chunks"]
    encoder.warm_up()
    wall, cpu = time.perf_counter(), time.process_time()
    encoded = encoder.run(chunks=chunks)["chunks"]
    meta = {
        "encode_s": time.perf_counter() - wall,
        "encode_cpu_s": time.process_time() - cpu,
        "chunks": len(chunks),
        "threads": _threads(),
    }
    row = {d.id: i for i, d in enumerate(docs)}
    emb = np.stack([c.embedding for c in encoded]).astype(np.float32)
    doc = np.array([row[c.doc_id] for c in encoded], dtype=np.int32)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, emb=emb, doc=doc, meta=json.dumps(meta))
    return emb, doc, meta


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def encode_queries(queries: dict[str, str], cache: Path) -> dict[str, np.ndarray]:
    """Query id -> embedding (query_encoder settings of the examples), cached."""
    encoder = QueryEncoder()
    path = cache / f"queries-{_key(encoder.to_dict(), sorted(queries.items()))}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=False)
        return dict(zip(data["ids"].tolist(), data["emb"], strict=True))
    ids = list(queries)
    emb = encoder.encoder.encode([queries[q] for q in ids])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array(ids), emb=emb)
    return dict(zip(ids, emb, strict=True))


def doc_run(
    emb: np.ndarray, doc: np.ndarray, docs: list[Document], queries: dict, qvec: dict
) -> dict[str, dict[str, float]]:
    """Exact cosine search; a document scores its best chunk; top 100 documents per query."""
    ids = list(queries)
    sims = np.stack([qvec[q] for q in ids]) @ emb.T
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    best = np.maximum.reduceat(sims, starts, axis=1)  # chunks are grouped by document
    names = [docs[i].id for i in doc[starts]]
    run = {}
    for n, qid in enumerate(ids):
        top = np.argsort(-best[n], kind="stable")[:100]
        run[qid] = {names[i]: float(best[n, i]) for i in top}
    return run


def score(
    emb: np.ndarray, doc: np.ndarray, docs: list[Document], split: tuple[dict, dict], qvec: dict
) -> dict[str, float]:
    """Mean metrics of one split."""
    return evaluate(split[1], doc_run(emb, doc, docs, split[0], qvec))


def paired_delta(qrels: dict, run_a: dict, run_b: dict, samples: int = 2000) -> list[float]:
    """nDCG@10 of b minus a, in points, with a 95 % paired bootstrap interval over queries."""
    a, b = per_query(qrels, run_a, ["ndcg@10"]), per_query(qrels, run_b, ["ndcg@10"])
    diff = np.array([b[q]["ndcg@10"] - a[q]["ndcg@10"] for q in qrels]) * 100
    rng = np.random.default_rng(0)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(samples)]
    return [round(float(x), 2) for x in (diff.mean(), *np.percentile(means, [2.5, 97.5]))]


def time_pair(docs: list[Document], reps: int, size: str = "64") -> dict[str, Any]:
    """Best-of-`reps` encode time of naive-`size` and late-`size` on `docs`, runs interleaved
    (on a shared machine the minimum is the fairest estimate of each one's own cost)."""
    (chunker, naive), (_, late) = configs()[f"naive-{size}"], configs()[f"late-{size}"]
    chunks = chunker.run(documents=docs)["chunks"]
    naive.warm_up()
    late.warm_up()
    names = (f"naive-{size}", f"late-{size}")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for _ in range(reps):
        for name, encoder in zip(names, (naive, late), strict=True):
            wall, cpu = time.perf_counter(), time.process_time()
            encoder.run(chunks=chunks)
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    best = {name: (min(w for w, _ in t), min(c for _, c in t)) for name, t in times.items()}
    return {
        "documents": len(docs),
        "chunks": len(chunks),
        "reps": reps,
        "wall_s": {name: b[0] for name, b in best.items()},
        "cpu_s": {name: b[1] for name, b in best.items()},
        "late_over_naive_wall": best[names[1]][0] / best[names[0]][0],
        "late_over_naive_cpu": best[names[1]][1] / best[names[0]][1],
    }


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--only", action="append", choices=list(configs()), help="repeatable")
    parser.add_argument("--cache-dir", type=Path, default=RESULTS / "cache")
    parser.add_argument("--fresh", action="store_true", help="re-encode even when cached")
    parser.add_argument("--limit-docs", type=int, default=None, help="first N documents only")
    parser.add_argument("--out", type=Path, default=RESULTS / "late_chunking.json")
    parser.add_argument("--timing", type=int, default=0, help="time naive vs late on N docs")
    parser.add_argument("--timing-reps", type=int, default=3)
    parser.add_argument(
        "--timing-chunks", choices=["64", "128", "sent"], default="64", help="chunks to time"
    )
    args = parser.parse_args(argv)
    docs = load_beir_corpus(args.dataset)[: args.limit_docs]
    if args.timing:
        timing = time_pair(docs[: args.timing], args.timing_reps, args.timing_chunks)
        print(json.dumps(timing, indent=2))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        name = f"late_chunking_timing_{args.timing_chunks}.json"
        (args.out.parent / name).write_text(json.dumps(timing, indent=2))
        if not args.only:  # `--timing N` alone only times
            return 0
    splits = {s: load_split(args.dataset, s) for s in ("train", "test")}
    qvec = encode_queries({q: t for s in splits.values() for q, t in s[0].items()}, args.cache_dir)
    rows: dict[str, dict[str, Any]] = {}
    cached: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in args.only or list(configs()):
        print(f"{name}: encoding {len(docs)} documents (or reading the cache)", file=sys.stderr)
        emb, doc, meta = encode_corpus(name, docs, args.cache_dir, args.fresh)
        cached[name] = (emb, doc)
        rows[name] = {**meta, **{s: score(emb, doc, docs, splits[s], qvec) for s in splits}}
    for name in list(cached):
        if not name.startswith("late-") or f"naive-{name[5:]}" not in cached:
            continue
        late, doc = cached[name]
        naive = cached[f"naive-{name[5:]}"][0]
        curve = {
            w: score(_normalise(w * late + (1 - w) * naive), doc, docs, splits["train"], qvec)
            for w in WEIGHTS
        }
        w = max(WEIGHTS, key=lambda x: curve[x]["ndcg@10"])  # tuned on train only
        queries, qrels = splits["test"]
        blend = _normalise(w * late + (1 - w) * naive)
        blend_run = doc_run(blend, doc, docs, queries, qvec)
        naive_run = doc_run(naive, doc, docs, queries, qvec)
        test_curve = {  # for the record, not for choosing w
            str(x): score(_normalise(x * late + (1 - x) * naive), doc, docs, splits["test"], qvec)
            for x in WEIGHTS
        }
        encode_s = rows[name]["encode_s"] + rows[f"naive-{name[5:]}"]["encode_s"]
        rows[f"blend-{name[5:]}"] = {
            "weight": w,
            "train_curve": {str(k): v["ndcg@10"] for k, v in curve.items()},
            "test_curve": {k: v["ndcg@10"] for k, v in test_curve.items()},
            "train": curve[w],
            "test": evaluate(qrels, blend_run),
            "test_delta_vs_naive_ci": paired_delta(qrels, naive_run, blend_run),
            "encode_s": encode_s,
            "chunks": rows[name]["chunks"],
        }
    print("| config | nDCG@10 | Recall@100 | MRR@10 | train nDCG@10 | chunks | encode s |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        test, train = row["test"], row["train"]
        label = f"{name} (w={row['weight']})" if "weight" in row else name
        print(
            f"| {label} | {test['ndcg@10']:.4f} | {test['recall@100']:.4f} | "
            f"{test['mrr@10']:.4f} | {train['ndcg@10']:.4f} | {row['chunks']} | "
            f"{row['encode_s']:.0f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
