"""The GPU path: encoder, late chunking and cross-encoder throughput by precision, and Ray Data
indexing with `num_gpus`, on CUDA (or on CPU as a smoke test of the same code).

Parts, each through ragloom's own classes on SciFact (bundled MiniLM):
- encoder: `TextEncoder.encode` over sentences and 128-token windows, per batch size;
- late chunking: the `late_chunking_encoder` stage (pure late, `late_weight` 1) over whole
  abstracts split into one-sentence chunks (the token states of examples/hybrid.yaml);
- cross-encoder: `CrossEncoder.score` of claims x 20 abstracts (batch 16, pairs cut to 256:
  examples/hybrid-rerank.yaml's depth and max_length);
- Ray Data: `RAG.index` of the first --ray-docs abstracts with examples/hybrid-chunks.yaml
  (128-token chunks, MiniLM, Chroma + BM25; benchmarks/indexing.py's pipeline), executor
  `{type: ray, indexing: {encoder_actors: N, num_gpus: 1/N}}` on CUDA (num_gpus 0 on CPU).

Each precision is compared with float32 on the same inputs: rate ratio, and the least cosine of
its embeddings to float32's (largest score difference for the cross-encoder). GFLOP/s count the
padded tokens run (`roofline.model_flops`). Times are the best of --repeat after a warm-up
(--quick: one call, no warm-up: a smoke test whose figures mean nothing).

    python benchmarks/gpu.py                              # CUDA: float32, float16, bfloat16
    python benchmarks/gpu.py --device cpu --quick --no-ray   # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from roofline import (
    DATASET,
    batch_lengths,
    model_flops,
    rerank_pairs,
    scifact_sentences,
    token_windows,
)

ROOT = Path(__file__).resolve().parents[1]
#: Ray Data indexes a loader -> chunker -> encoder -> writers pipeline; examples/hybrid.yaml has
#: two chunkers (BM25 documents, dense sentences), which `ragloom index` runs per stage instead.
CONFIG = ROOT / "examples" / "hybrid-chunks.yaml"
#: Sizes of the full run and of --quick.
FULL = {
    "sentences": 4096, "chunks": 2048, "late_docs": 1000, "claims": 50, "depth": 20,
    "ray_docs": 2000,
}  # fmt: skip
QUICK = {"sentences": 8, "chunks": 4, "late_docs": 2, "claims": 1, "depth": 4, "ray_docs": 8}


def check_device(device: str) -> None:
    """Exit with one line when CUDA is asked for and absent."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        built = torch.version.cuda or "none (a CPU build)"
        sys.exit(
            f"gpu.py: --device {device} asked but torch {torch.__version__} sees no CUDA device "
            f"(CUDA build: {built}); run with --device cpu for the CPU smoke test"
        )


def best_time(run: Callable[[], Any], repeat: int, warm_up: bool = True) -> tuple[float, Any]:
    """(best seconds of `repeat` calls, after a warm-up call unless told not to; the last
    call's result)."""
    out = run() if warm_up else None
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - began)
    return best, out


def least_cosine(reference: np.ndarray, other: np.ndarray) -> float:
    """The smallest row-wise cosine between two embedding matrices."""
    a = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    b = other / np.linalg.norm(other, axis=1, keepdims=True)
    return float(np.min(np.sum(a * b, axis=1)))


class Bench:
    """Rows of one run: each part per dtype, compared with the float32 row of its workload."""

    def __init__(self, device: str, dtypes: Sequence[str], repeat: int, quick: bool):
        self.device = device
        self.dtypes = dtypes
        self.repeat = 1 if quick else repeat
        self.quick = quick
        self.sizes = QUICK if quick else FULL
        self.rows: list[dict[str, Any]] = []
        self.reference: dict[str, tuple[float, np.ndarray]] = {}

    def add(
        self,
        part: str,
        workload: str,
        dtype: str,
        items: int,
        padded: list[int],
        config: Any,
        run: Callable[[], np.ndarray],
    ) -> None:
        """Time `run`, then record its rate, GFLOP/s and drift from float32's output."""
        seconds, out = best_time(run, self.repeat, warm_up=not self.quick)
        rate = items / seconds
        key = f"{part}/{workload}"
        if dtype == "float32":
            self.reference[key] = (rate, out)
        base = self.reference.get(key)
        drift = None
        if base is not None and dtype != "float32":
            drift = (
                float(np.max(np.abs(base[1] - out)))
                if out.ndim == 1
                else least_cosine(base[1], out)
            )
        self.rows.append(
            {
                "part": part,
                "workload": workload,
                "dtype": dtype,
                "items": items,
                "padded_tokens": sum(padded),
                "seconds": seconds,
                "items_per_s": rate,
                "gflops": model_flops(config, padded) / seconds / 1e9,
                "vs_float32": rate / base[0] if base else None,
                "drift": drift,
            }
        )

    def encoder(self, batch_sizes: Sequence[int]) -> None:
        from ragloom.chunking.text_encoder import TextEncoder
        from ragloom.loaders.files import load_beir_corpus

        sentences = scifact_sentences(self.sizes["sentences"])
        abstracts = [doc.text for doc in load_beir_corpus(DATASET)]
        for dtype in self.dtypes:
            enc = TextEncoder.shared("minilm", device=self.device, dtype=dtype)  # type: ignore[arg-type]
            windows = token_windows(enc.tokenizer, abstracts, 128, self.sizes["chunks"])
            for name, texts in (("sentences", sentences), ("128-token chunks", windows)):
                for size in batch_sizes:
                    _, padded = batch_lengths(enc.batches(texts, batch_size=size))
                    self.add(
                        "encoder",
                        f"{name}, batch {size}",
                        dtype,
                        len(texts),
                        padded,
                        enc.model.config,
                        functools.partial(enc.encode, texts, batch_size=size),
                    )

    def late_chunking(self) -> None:
        from ragloom.chunking.late import LateChunkingEncoder
        from ragloom.chunking.sentences import SentenceChunker
        from ragloom.loaders.files import load_beir_corpus

        docs = load_beir_corpus(DATASET)[: self.sizes["late_docs"]]
        chunks = SentenceChunker(sentences_per_chunk=1).run(documents=docs)["chunks"]
        for dtype in self.dtypes:
            stage = LateChunkingEncoder(model="minilm", device=self.device, dtype=dtype)
            stage.warm_up()
            tokenizer = stage.encoder.tokenizer
            lengths = [
                min(len(tokenizer(d.text)["input_ids"]), stage.encoder.max_length) for d in docs
            ]
            self.add(
                "late chunking",
                f"{len(docs)} abstracts, {len(chunks)} sentence chunks",
                dtype,
                len(docs),
                lengths,  # unpadded: batches are length-sorted and capped in tokens
                stage.encoder.model.config,
                functools.partial(stage.embed, chunks, docs),
            )

    def cross_encoder(self, model: str) -> None:
        from ragloom.rerank.cross_encoder import CrossEncoder

        pairs = rerank_pairs(self.sizes["claims"], self.sizes["depth"])
        for dtype in self.dtypes:
            cross = CrossEncoder.shared(model, device=self.device, dtype=dtype)  # type: ignore[arg-type]
            padded: list[int] = []
            for claim, passages in pairs:
                padded += batch_lengths(
                    cross.batches(passages, batch_size=16, max_length=256, query=claim)
                )[1]

            def score_all(cross: Any = cross) -> np.ndarray:
                return np.concatenate(
                    [cross.score(c, p, batch_size=16, max_length=256) for c, p in pairs]
                )

            self.add(
                "cross-encoder", f"depth-{self.sizes['depth']} pairs", dtype, len(padded), padded,
                cross.model.config, score_all,
            )  # fmt: skip


def ray_indexing(device: str, actors: Sequence[int], docs: int) -> list[dict[str, Any]]:
    """`RAG.index` of the first `docs` abstracts on Ray Data, once per encoder-actor count."""
    from ragloom.rag import RAG

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ragloom-gpu-") as tmp:
        corpus = Path(tmp) / "scifact" / "corpus.jsonl"
        corpus.parent.mkdir()
        lines = (DATASET / "corpus.jsonl").read_text(encoding="utf-8").splitlines(True)[:docs]
        corpus.write_text("".join(lines), encoding="utf-8")
        for n in actors:
            gpus = 1.0 / n if device.startswith("cuda") else 0.0
            cpus = max(1.0, (os.cpu_count() or 1) // n - (1 if n > 1 else 0))
            rag = RAG.from_file(CONFIG, Path(tmp) / f"index-{n}", executor="ray")
            rag.config.indexing.executor = {
                "type": "ray",
                "indexing": {"encoder_actors": n, "num_gpus": gpus, "num_cpus": cpus},
            }
            began = time.perf_counter()
            report = rag.index([corpus.parent])
            wall = time.perf_counter() - began
            if report.failed or report.added != report.documents:
                raise RuntimeError(f"Ray Data indexing failed: {report.to_dict()}")
            if report.executor != "ray-data":
                raise RuntimeError(f"{CONFIG.name} was indexed by {report.executor}, not Ray Data")
            rates = report.throughput
            rows.append(
                {
                    "encoder_actors": n,
                    "num_gpus": gpus,
                    "num_cpus": cpus,
                    "documents": report.documents,
                    "chunks": int(rates.get("chunks", 0)),
                    "wall_s": wall,
                    "writing_s": rates.get("seconds", wall),
                    "docs_per_s": rates.get("documents_per_s", 0.0),
                    "tokens_per_s": rates.get("tokens_per_s", 0.0),
                }
            )
    return rows


def print_tables(bench: Bench, ray_rows: list[dict[str, Any]]) -> None:
    print(
        "| part | workload | dtype | items | items/s | GFLOP/s (padded) | vs float32 | "
        "least cosine (max score diff) to float32 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in bench.rows:
        ratio = f"{row['vs_float32']:.2f}x" if row["vs_float32"] else "-"
        drift = f"{row['drift']:.4f}" if row["drift"] is not None else "-"
        print(
            f"| {row['part']} | {row['workload']} | {row['dtype']} | {row['items']} | "
            f"{row['items_per_s']:.1f} | {row['gflops']:.1f} | {ratio} | {drift} |"
        )
    if ray_rows:
        print("\n| Ray Data encoder actors | num_gpus each | num_cpus each | documents | chunks | "
              "writing s | documents/s | tokens/s | wall s |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for row in ray_rows:
            print(
                f"| {row['encoder_actors']} | {row['num_gpus']:g} | {row['num_cpus']:g} | "
                f"{row['documents']} | {row['chunks']} | {row['writing_s']:.1f} | "
                f"{row['docs_per_s']:.1f} | {row['tokens_per_s']:.0f} | {row['wall_s']:.1f} |"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--dtypes", nargs="+", help="default: float32 float16 bfloat16 on CUDA, "
                        "float32 bfloat16 on CPU (float16 matmuls are emulated there)")  # fmt: skip
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="default: 32 256 (CUDA), 32")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reranker", default="minilm", help="cross-encoder (see roofline.py)")
    parser.add_argument("--no-ray", action="store_true", help="skip Ray Data indexing")
    parser.add_argument("--ray-actors", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    check_device(args.device)
    import torch

    cuda = args.device.startswith("cuda")
    dtypes = args.dtypes or (
        ["float32", "float16", "bfloat16"] if cuda else ["float32", "bfloat16"]
    )
    if "float32" not in dtypes:
        dtypes = ["float32", *dtypes]  # the reference every other row is compared with
    sizes = QUICK if args.quick else FULL
    name = torch.cuda.get_device_name(args.device) if cuda else f"CPU, {os.cpu_count()} cores"
    print(f"{name}, torch {torch.__version__}, dtypes {' '.join(dtypes)}, sizes {sizes}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    bench = Bench(args.device, dtypes, args.repeat, args.quick)
    bench.encoder(args.batch_sizes or ([32, 256] if cuda else [32]))
    bench.late_chunking()
    bench.cross_encoder(args.reranker)
    ray_rows = [] if args.no_ray else ray_indexing(args.device, args.ray_actors, sizes["ray_docs"])
    print_tables(bench, ray_rows)
    print(json.dumps({"device": name, "rows": bench.rows, "ray": ray_rows}))


if __name__ == "__main__":
    main()
