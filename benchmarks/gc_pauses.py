"""Python's garbage collection pauses in a warm query process, before and after `gc.freeze()`
(what `ragloom serve` does once its pipelines are warm, `ragloom.server.service`).

Loads `/v1/retrieve`'s stages of a config over an index, warms them, then runs --queries SciFact
test claims one after another, three times: as loaded, right after `gc.collect(); gc.freeze()`,
and once more frozen (the steady state, after the first collections of new objects).
For each pass: the objects the collector tracks, the query p50 / p99 / max, and per generation
the collections run, their total and their longest time (gc.callbacks). A full (generation 2)
collection holds the GIL for all its time, so in a server it stalls every request in flight.

    python benchmarks/gc_pauses.py --index-dir benchmarks/results/serve-scifact-hybrid
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ragloom.evaluation.beir import load_split
from ragloom.rag import RAG
from ragloom.server.retrieval import retrieval_pipeline

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"


class Pauses:
    """Each collection's generation and milliseconds, from gc.callbacks."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, float]] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.runs.append((info["generation"], (time.perf_counter() - self._began) * 1000))


def one_pass(rag: RAG, questions: list[str], pauses: Pauses) -> dict[str, Any]:
    pauses.runs.clear()
    ms = []
    for question in questions:
        began = time.perf_counter()
        rag.query(question, top_k=10)
        ms.append((time.perf_counter() - began) * 1000)
    ms.sort()
    by_generation = {}
    for generation in (0, 1, 2):
        times = [t for g, t in pauses.runs if g == generation]
        by_generation[generation] = (len(times), sum(times), max(times, default=0.0))
    return {
        "tracked objects": len(gc.get_objects()),
        "p50": statistics.median(ms),
        "p99": ms[int(0.99 * (len(ms) - 1))],
        "max": ms[-1],
        "gc": by_generation,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples" / "hybrid.yaml"))
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--queries", type=int, default=300, help="claims per pass")
    args = parser.parse_args()

    loaded = RAG.from_file(args.config, args.index_dir, "local")
    rag = RAG(replace(loaded.config, query=retrieval_pipeline(loaded.config.query)))
    rag.config.query.warm_up()
    claims = list(load_split(DATASET, "test")[0].values())
    for claim in claims[:20]:  # warm caches and allocators
        rag.query(claim, top_k=10)
    n = args.queries
    questions = (claims * (1 + 3 * n // len(claims)))[: 3 * n]
    pauses = Pauses()
    gc.callbacks.append(pauses)
    print(
        "| pass | tracked objects | p50 ms | p99 ms | max ms | gen 0 / 1 / 2 runs | "
        "gen 2 total ms | longest collection ms |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    passes = {
        "as loaded": questions[:n],
        "after gc.freeze()": questions[n : 2 * n],
        "frozen, the next queries": questions[2 * n :],
    }
    for label, part in passes.items():
        if label == "after gc.freeze()":
            gc.collect()
            gc.freeze()
        row = one_pass(rag, part, pauses)
        runs = " / ".join(str(row["gc"][g][0]) for g in (0, 1, 2))
        longest = max(row["gc"][g][2] for g in (0, 1, 2))
        print(
            f"| {label} | {row['tracked objects']:,} | {row['p50']:.1f} | {row['p99']:.1f} | "
            f"{row['max']:.1f} | {runs} | {row['gc'][2][1]:.1f} | {longest:.1f} |"
        )


if __name__ == "__main__":
    main()
