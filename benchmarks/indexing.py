"""Indexing throughput and orchestration overhead: local, Ray Data (1 and 2 encoder actors), raw.

Indexes the first `--docs` SciFact abstracts (title + text, BEIR corpus.jsonl) with
examples/hybrid-chunks.yaml's indexing pipeline (128-token chunks, bundled MiniLM, Chroma +
BM25) into a fresh temporary index per run, and compares with the encoder's forward pass alone
on the same chunks (chunked beforehand, untimed; timed after one untimed pass, so torch is as
warm as for the local run, which shares the process). Tokens are the documents' MiniLM tokens,
the same count for every row, so tokens/s compare directly; overhead = raw tokens/s / pipeline
tokens/s - 1. Pipeline rows time the writing phase (models already loaded; Ray Data's encoder
actors start inside it) as `IndexReport.throughput` does; `wall s` is the whole `RAG.index` call.

Each row is the best of `--repeat` rounds (all runs once per round, the order reversed every
other round), which damps the noise of a shared machine; every round's tokens/s is printed too.
CPU seconds (this process, least over rounds) give a load-independent overhead for the local
executor, whose whole run is in this process (on Ray only the driver's share is counted).

Run:  python benchmarks/indexing.py [--docs 1000] [--repeat 2] [--runs raw local ray1 ray2]
      (any rayN runs N encoder actors, each with cpu_count // N CPUs: ray4 ray8 on a larger box)
Writes benchmarks/results/indexing.json and .md (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
CONFIG = ROOT / "examples" / "hybrid-chunks.yaml"
RESULTS = ROOT / "benchmarks" / "results"


def subset(path: Path, count: int, folder: Path) -> Path:
    """The first `count` lines of the corpus as a BEIR corpus.jsonl in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with path.open(encoding="utf-8") as source:
        lines = [line for _, line in zip(range(count), source, strict=False)]
    (folder / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


_warm: set[str] = set()


def raw_run(folder: Path) -> dict[str, Any]:
    """The encoder's forward pass alone over the pipeline's chunks."""
    from ragloom.config import load_config
    from ragloom.indexing.report import TokenCounter
    from ragloom.loaders import iter_documents

    pipeline = load_config(CONFIG).indexing
    documents = list(iter_documents([folder]))
    chunker, encoder = pipeline.components["chunker"], pipeline.components["encoder"]
    chunker.warm_up()
    encoder.warm_up()
    chunks = chunker.run(documents=documents)["chunks"]
    if "raw" not in _warm:  # one untimed pass first: later runs in this process are warm too
        encoder.run(chunks=chunks)
        _warm.add("raw")
    start, cpu = time.perf_counter(), time.process_time()
    encoder.run(chunks=chunks)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    tokens = TokenCounter("minilm")([d.text for d in documents])
    return {
        "documents": len(documents),
        "chunks": len(chunks),
        "tokens": tokens,
        "seconds": seconds,
        "wall_s": seconds,
        "cpu_s": cpu,
        "tokens_per_s": tokens / seconds,
    }


def pipeline_run(folder: Path, index_dir: Path, actors: int | None) -> dict[str, Any]:
    from ragloom.rag import RAG

    rag = RAG.from_file(CONFIG, index_dir, executor="ray" if actors else None)
    if actors:
        rag.config.indexing.executor = {
            "type": "ray",
            "indexing": {
                "encoder_actors": actors,
                "num_cpus": max(1, (os.cpu_count() or 1) // actors),
                "batch_size": 64,
                "write_batch_size": 256,
            },
        }
    start, cpu = time.perf_counter(), time.process_time()
    report = rag.index([folder])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.added == report.documents and not report.failed, report.to_dict()
    # CPU seconds of this process: everything for the local executor, only the driver on Ray.
    return {**report.throughput, "wall_s": wall, "cpu_s": cpu, "executor": report.executor}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--runs", nargs="+", default=["raw", "local", "ray1", "ray2"])
    parser.add_argument("--repeat", type=int, default=2, help="rounds; each row keeps its best")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAGLOOM_PROGRESS", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    rows: dict[str, dict[str, Any]] = {}
    rounds: dict[str, list[float]] = {}
    cpu_rounds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="ragloom-bench-") as tmp:
        folder = subset(args.corpus, args.docs, Path(tmp) / "scifact")
        for round_ in range(args.repeat):
            order = args.runs if round_ % 2 == 0 else args.runs[::-1]
            for run in order:
                print(f"round {round_ + 1}: {run} ...", file=sys.stderr, flush=True)
                index_dir = Path(tmp) / f"{run}-{round_}"
                if run == "raw":
                    row = raw_run(folder)
                elif run == "local":
                    row = pipeline_run(folder, index_dir, None)
                elif run.startswith("ray") and run[3:].isdigit() and int(run[3:]) > 0:
                    row = pipeline_run(folder, index_dir, int(run[3:]))
                else:
                    parser.error(f"unknown run {run!r}")
                print(f"  {row['tokens_per_s']:.0f} tokens/s", file=sys.stderr, flush=True)
                rounds.setdefault(run, []).append(row["tokens_per_s"])
                cpu_rounds.setdefault(run, []).append(row["cpu_s"])
                if run not in rows or row["tokens_per_s"] > rows[run]["tokens_per_s"]:
                    rows[run] = row
    raw = rows.get("raw", {}).get("tokens_per_s")
    raw_cpu = min(cpu_rounds.get("raw", [0.0]))
    labels = {
        "raw": "encoder forward pass alone",
        "local": "local executor",
    }
    cpus = os.cpu_count() or 1
    for run in args.runs:
        if run.startswith("ray") and run[3:].isdigit():
            actors = int(run[3:])
            share = max(1, cpus // actors)
            plural = "s" if actors > 1 else ""
            labels[run] = f"Ray Data, {actors} encoder actor{plural} ({share} CPU each)"
    lines = [
        "| run | documents | chunks | tokens | seconds | tokens/s (best) | every round | "
        "overhead vs raw (wall) | CPU s (least) | overhead vs raw (CPU) | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run, row in rows.items():
        overhead = f"{raw / row['tokens_per_s'] - 1:+.1%}" if raw and run != "raw" else "-"
        cpu = min(cpu_rounds[run])
        cpu_overhead = f"{cpu / raw_cpu - 1:+.1%}" if raw_cpu and run == "local" else "-"
        lines.append(
            f"| {labels[run]} | {row['documents']} | {row['chunks']} | {row['tokens']} | "
            f"{row['seconds']:.1f} | {row['tokens_per_s']:.0f} | "
            f"{', '.join(f'{t:.0f}' for t in rounds[run])} | {overhead} | {cpu:.1f} | "
            f"{cpu_overhead} | {row['wall_s']:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "docs": args.docs,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    payload = {"meta": meta, "rows": rows, "rounds": rounds, "cpu_rounds": cpu_rounds}
    (RESULTS / "indexing.json").write_text(json.dumps(payload, indent=2))
    (RESULTS / "indexing.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
