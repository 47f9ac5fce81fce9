"""Encoder and cross-encoder throughput by backend, side by side in one run: torch float32 (the
reference), torch bfloat16 (where the CPU has bf16 instructions), onnx float32, onnx int8 and,
when the openvino package imports, openvino (dtype auto: bfloat16 where the CPU has it).

Encoder rows: bundled MiniLM through ragloom's `TextEncoder.encode` (length-sorted batches of
32, mean pooling, normalised) on SciFact corpus sentences (`split_sentences`, as the examples'
sentence chunker) and on 128-token chunks (the first 128 tokens of each abstract); passages/s,
and the cosine of each vector to the torch float32 one (min and mean). Cross-encoder rows: pairs
of a SciFact test claim and 20 passages (128-token windows of corpus abstracts) scored by
`CrossEncoder.score` (batches of 16, pairs cut to 256 tokens, as examples/hybrid-rerank.yaml);
pairs/s, the largest score difference to torch float32 and the share of each claim's top 10
kept. Without --reranker a cross-encoder is trained from MiniLM for 12 steps on four pairs (the
test suite's recipe: the same architecture as a SciFact-trained one, so the same speed).

Every backend is loaded (and exported, the first time) before any timing; then --rounds rounds
each time every backend once, in turn, and the best round counts, so load from other processes
hits every backend alike.

Each row is also a share of this machine's matmul peak, measured at the start of the run
(`roofline.matmul_peak`, `--peak-sizes`/`--peak-repeat`): GFLOP/s of `roofline.model_flops`
over the padded tokens of the batches the row ran (counted with the encoder's own `batches`,
which every backend shares), as a % of the float32 peak and of the peak of the row's own type
(torch bf16: bfloat16, onnx int8: ONNX Runtime's int8 MatMulInteger, openvino: bfloat16 where
the CPU has a bf16 flag, else float32).

    python benchmarks/inference_backends.py                       # 400 abstracts, 3 rounds
    python benchmarks/inference_backends.py --docs 100 --rounds 1 # a quick smoke run
    python benchmarks/inference_backends.py --docs 20 --rounds 1 --peak-sizes 256 --peak-repeat 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from peak_share import (
    SHARE_HEADER,
    SHARE_RULE,
    add_peak_options,
    measure_peak,
    native_bf16,
    own_kind,
    peak_share,
    share_cells,
)
from roofline import padded_flops

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ragloom.chunking.sentences import split_sentences
from ragloom.chunking.text_encoder import TextEncoder
from ragloom.evaluation.beir import load_split
from ragloom.loaders.files import load_beir_corpus
from ragloom.rerank.cross_encoder import CrossEncoder

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
#: (label, backend, dtype, quantize)
BACKENDS = [
    ("torch fp32", "torch", "float32", "none"),
    ("torch bf16", "torch", "bfloat16", "none"),
    ("onnx fp32", "onnx", "float32", "none"),
    ("onnx int8", "onnx", "float32", "int8"),
]
#: Added when the openvino package imports.
OPENVINO = ("openvino", "openvino", "auto", "none")
#: The test suite's four training pairs (tests/integration/conftest.py RERANK_PAIRS).
TINY_PAIRS = [
    {
        "query": "what is reciprocal rank fusion",
        "positive": "Reciprocal rank fusion merges ranked lists by summing 1/(k+rank).",
        "negatives": ["Chroma stores dense vectors on disk."],
    },
    {
        "query": "how does late chunking embed a chunk",
        "positive": "Late chunking embeds the whole document once and pools token embeddings.",
    },
    {
        "query": "what is BM25",
        "positive": "BM25 ranks documents by term frequency and inverse document frequency.",
    },
    {
        "query": "which model writes the answers",
        "positive": "SmolLM2 is a small instruction-tuned language model that writes answers.",
    },
]


def available_backends() -> list[tuple[str, str, str, str]]:
    """BACKENDS this machine runs: bf16 only with bf16 instructions, openvino when installed."""
    backends = [b for b in BACKENDS if b[2] != "bfloat16" or native_bf16()]
    try:
        import openvino  # noqa: F401
    except ImportError:
        return backends
    return [*backends, OPENVINO]


def encoder_flops(encoder: Any, texts: list[str]) -> float:
    """Matmul FLOPs of `encode(texts, batch_size=32)`: the padded tokens of its own batches."""
    return padded_flops(encoder.config, encoder.batches(texts, batch_size=32))


def cross_encoder_flops(cross: Any, work: list[tuple[str, list[str]]]) -> float:
    """Matmul FLOPs of scoring every (claim, passages) at batch 16, pairs cut to 256 tokens."""
    return sum(
        padded_flops(cross.config, cross.batches(texts, batch_size=16, max_length=256, query=q))
        for q, texts in work
    )


def passages(docs: int) -> tuple[list[str], list[str], list[tuple[str, list[str]]]]:
    """SciFact sentences, 128-token chunks, and (claim, 20 passages) reranking work."""
    from ragloom.models import load_tokenizer

    corpus = load_beir_corpus(DATASET)[:docs]
    tokenizer = load_tokenizer("minilm")
    sentences = [d.text[s:e] for d in corpus for s, e in split_sentences(d.text)]
    ids = tokenizer([d.text for d in corpus], add_special_tokens=False)["input_ids"]
    chunks = [tokenizer.decode(row[:128]) for row in ids]
    queries, _ = load_split(DATASET, "test")
    claims = list(queries.values())[: max(1, len(chunks) // 20)]
    work = [(claim, chunks[n * 20 : (n + 1) * 20]) for n, claim in enumerate(claims)]
    return sentences, chunks, work


def tiny_reranker(folder: Path) -> Path:
    """A cross-encoder trained from MiniLM for 12 steps (tests/integration/conftest.py's)."""
    from ragloom.rerank.training import TrainingOptions, train_reranker

    pairs = folder / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in TINY_PAIRS), encoding="utf-8")
    options = TrainingOptions(
        miner="bm25", negatives=3, max_steps=12, max_length=48, learning_rate=4e-4, warmup_ratio=0.0
    )
    train_reranker(pairs, folder / "model", options)
    return folder / "model"


@contextlib.contextmanager
def private_cache(folder: Path | None) -> Iterator[None]:
    """Export into `folder` instead of the user's model cache (for the throwaway reranker)."""
    if folder is None:
        yield
        return
    before = os.environ.get("RAGLOOM_CACHE")
    os.environ["RAGLOOM_CACHE"] = str(folder / "cache")
    try:
        yield
    finally:
        if before is None:
            del os.environ["RAGLOOM_CACHE"]
        else:
            os.environ["RAGLOOM_CACHE"] = before


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    out = run()
    return time.perf_counter() - began, out


def rounds(jobs: dict[str, Callable[[], Any]], count: int) -> dict[str, tuple[float, Any]]:
    """Best seconds and last output of each job, the jobs interleaved round by round."""
    best: dict[str, tuple[float, Any]] = {}
    for _ in range(count):
        for label, job in jobs.items():
            seconds, out = timed(job)
            if label not in best or seconds < best[label][0]:
                best[label] = (seconds, out)
    return best


def cosine_stats(got: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    cos = (got * reference).sum(axis=1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1)
    )
    return float(cos.min()), float(cos.mean())


def score_agreement(got: list[np.ndarray], reference: list[np.ndarray]) -> tuple[float, float]:
    """(largest |score difference|, mean share of each claim's top 10 kept)."""
    diff = max(float(np.abs(g - r).max()) for g, r in zip(got, reference, strict=True))
    kept = [
        len(set(np.argsort(-g)[:10]) & set(np.argsort(-r)[:10])) / 10
        for g, r in zip(got, reference, strict=True)
    ]
    return diff, float(np.mean(kept))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=400, help="SciFact abstracts to read")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reranker", help="a cross-encoder folder (default: train a tiny one)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    add_peak_options(parser)
    args = parser.parse_args()

    import torch

    peak = measure_peak(args.peak_sizes, args.peak_repeat)
    backends = available_backends()
    kinds = {
        label: own_kind(backend, dtype, quantize) for label, backend, dtype, quantize in backends
    }
    sentences, chunks, work = passages(args.docs)
    print(
        f"{len(sentences)} sentences, {len(chunks)} 128-token chunks, {len(work)} claims x 20 "
        f"passages; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"bf16 {'yes' if native_bf16() else 'no'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        reranker = args.reranker or str(tiny_reranker(Path(tmp)))
        encoders, rerankers, loads = {}, {}, {}
        for label, backend, dtype, quantize in backends:
            options: dict[str, Any] = {"dtype": dtype, "backend": backend, "quantize": quantize}
            seconds, encoders[label] = timed(lambda o=options: TextEncoder("minilm", "cpu", **o))
            loads[label] = seconds
            with private_cache(None if args.reranker else Path(tmp)):
                rerankers[label] = CrossEncoder(reranker, "cpu", **options)
        for label, encoder in encoders.items():  # warm every session and allocator
            encoder.encode(sentences[:64])
            rerankers[label].score(*work[0], batch_size=16, max_length=256)

        rows: list[dict[str, Any]] = []
        for kind, texts in (("sentences", sentences), ("128-token chunks", chunks)):
            jobs = {
                label: (lambda e=encoder, t=texts: e.encode(t, batch_size=32))
                for label, encoder in encoders.items()
            }
            best = rounds(jobs, args.rounds)
            reference = best["torch fp32"]
            for label, (seconds, vectors) in best.items():
                low, mean = cosine_stats(vectors, reference[1])
                flops = encoder_flops(encoders[label], texts)
                rows.append(
                    {
                        "workload": f"encoder, {kind}",
                        "backend": label,
                        "per_s": len(texts) / seconds,
                        "speedup": reference[0] / seconds,
                        "cos_min": low,
                        "cos_mean": mean,
                    }
                    | peak_share(flops, seconds, kinds[label], peak)
                )
        jobs = {
            label: (lambda c=cross: [c.score(q, p, batch_size=16, max_length=256) for q, p in work])
            for label, cross in rerankers.items()
        }
        best = rounds(jobs, args.rounds)
        reference = best["torch fp32"]
        pairs = sum(len(p) for _, p in work)
        for label, (seconds, scores) in best.items():
            diff, kept = score_agreement(scores, reference[1])
            flops = cross_encoder_flops(rerankers[label], work)
            rows.append(
                {
                    "workload": "cross-encoder, depth 20",
                    "backend": label,
                    "per_s": pairs / seconds,
                    "speedup": reference[0] / seconds,
                    "max_abs_diff": diff,
                    "top10_kept": kept,
                }
                | peak_share(flops, seconds, kinds[label], peak)
            )

    print(f"\nload time (s, the onnx export included the first time): {loads}")
    print(
        f"\n| workload | backend | items/s | x torch fp32 | agreement with torch fp32 | "
        f"{SHARE_HEADER} |"
    )
    print(f"|---|---|---:|---:|---|{SHARE_RULE}")
    for row in rows:
        if "cos_min" in row:
            agree = f"cosine min {row['cos_min']:.5f}, mean {row['cos_mean']:.5f}"
        else:
            agree = f"max |Δscore| {row['max_abs_diff']:.4f}, top-10 kept {row['top10_kept']:.3f}"
        print(
            f"| {row['workload']} | {row['backend']} | {row['per_s']:.1f} | "
            f"{row['speedup']:.2f} | {agree} | {share_cells(row)} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
