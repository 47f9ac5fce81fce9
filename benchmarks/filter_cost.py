"""What a new metadata filter costs BM25: the one SQL pass that finds the allowed chunks.

Indexes a seeded synthetic JSONL corpus (`--docs` records with `team`, `year` and `flag`
metadata) with examples/bm25.yaml, then times the first (uncached) evaluation of several
filters over the catalogue, and a filtered and an unfiltered query for comparison. Prints
microseconds per chunk, the figure README's "Filtering by metadata" cites.

    python benchmarks/filter_cost.py                 # 200,000 documents
    python benchmarks/filter_cost.py --docs 20000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from ragloom.filters import parse_filter
from ragloom.rag import RAG

ROOT = Path(__file__).resolve().parent.parent
WORDS = "tide moon river wave salt wind storm coast harbor sand reef current delta".split()
FILTERS = [
    {"team": "red"},
    {"year": {"$gte": 2020}},
    {"$or": [{"team": {"$in": ["blue", "green"]}}, {"flag": True}]},
    {"$not": {"year": {"$lt": 2015}}},
    {"$and": [{"team": {"$ne": "red"}}, {"year": {"$gt": 2010, "$lte": 2022}}]},
]


def corpus(path: Path, docs: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as handle:
        for n in range(docs):
            metadata = {
                "team": rng.choice(["red", "blue", "green"]),
                "year": rng.randint(2005, 2025),
                "flag": rng.random() < 0.3,
            }
            text = " ".join(rng.choice(WORDS) for _ in range(40))
            handle.write(json.dumps({"id": f"d{n}", "text": text, "metadata": metadata}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "docs.jsonl"  # not corpus.jsonl: that name is read as BEIR
        corpus(data, args.docs)
        rag = RAG.from_file(ROOT / "examples" / "bm25.yaml", Path(tmp) / "index")
        start = time.perf_counter()
        rag.index([data])
        print(f"indexed {args.docs:,} documents in {time.perf_counter() - start:.1f} s")
        chunks = sum(rag.chunk_counts().values())
        rag.query("tide moon", top_k=10)  # bind and open the store, warm its caches
        store = rag.config.query.components["retriever"].store
        per_chunk = []
        for spec in FILTERS:
            start = time.perf_counter()
            allowed = store._allowed_rows(parse_filter(spec))
            seconds = time.perf_counter() - start
            per_chunk.append(seconds / chunks * 1e6)
            print(
                f"{json.dumps(spec):72} {len(allowed):>8,} allowed  {seconds * 1000:8.1f} ms  "
                f"{per_chunk[-1]:.2f} µs/chunk"
            )
        print(f"median over {len(FILTERS)} filters: {statistics.median(per_chunk):.2f} µs/chunk")
        for label, filters in (("unfiltered", None), ("filtered (cached mask)", FILTERS[0])):
            times = []
            for _ in range(20):
                start = time.perf_counter()
                rag.query("tide moon storm", top_k=10, filters=filters)
                times.append(time.perf_counter() - start)
            print(f"query {label}: p50 {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
