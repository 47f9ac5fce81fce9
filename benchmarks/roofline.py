"""A roofline: this machine's matmul peak, and each ragloom model's achieved share of it.

The peak is the best GFLOP/s of large square matmuls (best of --repeat per size, torch threads =
cores) for float32, bfloat16 and float16 through `torch.matmul` and for int8 through
`torch._int_mm` (int8 x int8 -> int32) and, when onnxruntime is installed, ONNX Runtime's
`MatMul` in float32 ("float32 ort": MLAS's kernels, twice torch's sgemm on this AMD EPYC) and
`MatMulInteger` (uint8 x int8 -> int32, its VNNI path). A type the CPU only emulates shows up as a
rate far below float32; the CPU flags that make a type fast are printed next to it.

Models: the bundled MiniLM text encoder (`TextEncoder`, batch 32) on SciFact sentences and on
128-token chunks, and a MiniLM cross-encoder scoring claim-abstract pairs at depth 20 (batch 16,
pairs cut to 256 tokens, as examples/hybrid-rerank.yaml). FLOPs are counted from the model
config by `model_flops` (see its docstring and benchmarks/README.md), over the real tokens and,
separately, over the padded tokens the batches actually run.

    python benchmarks/roofline.py                     # peak + models (~10 min on a quiet 2-core VM)
    python benchmarks/roofline.py --peak-only
    python benchmarks/roofline.py --reranker benchmarks/results/scifact-reranker-v2

Other scripts import the helpers: `model_flops(config, lengths)` and `matmul_peak()`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
SIZES = (512, 1024, 2048)
EMULATED_CHECK = ("bfloat16", "float16")
PROBE_SIZE = 2048
#: CPU flags that make a type fast on x86 (bf16 dot products, int8 dot products, AMX tiles).
FAST_FLAGS = {
    "bfloat16": ("avx512_bf16", "amx_bf16"),
    "float16": ("avx512_fp16", "amx_fp16"),
    "int8": ("avx512_vnni", "avx_vnni", "amx_int8"),
}


def model_flops(config: Any, lengths: Iterable[int]) -> float:
    """Matmul FLOPs of one forward pass of a BERT-style encoder over sequences of `lengths` tokens.

    Per layer and token, the Q, K, V and output projections cost 4 d^2 multiply-adds and the
    feed-forward block 2 d i (d = hidden_size, i = intermediate_size); per layer and sequence
    of L tokens, attention scores (Q K^T) and the weighted sum (A V) cost 2 L^2 d multiply-adds.
    A multiply-add is 2 FLOPs, so a sequence costs layers * (2 L (4 d^2 + 2 d i) + 4 L^2 d).
    Embedding lookups, LayerNorm, softmax, GELU and the pooler/classifier head (under 0.1 %
    for MiniLM) are left out. Pass real lengths for useful work, padded widths for work done.
    """
    d = int(config.hidden_size)
    inner = int(config.intermediate_size)
    layers = int(config.num_hidden_layers)
    total = 0.0
    for length in lengths:
        total += layers * (2.0 * length * (4 * d * d + 2 * d * inner) + 4.0 * length * length * d)
    return total


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _seconds(run: Callable[[], Any]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def torch_matmul(kind: str, n: int) -> Callable[[], Any]:
    """An n x n x n matmul: `torch.matmul` for float types, `torch._int_mm` for int8."""
    import torch

    if kind == "int8":
        a = torch.randint(-128, 128, (n, n), dtype=torch.int8)
        b = torch.randint(-128, 128, (n, n), dtype=torch.int8)
        return lambda: torch._int_mm(a, b)
    dtype = getattr(torch, kind)
    x = torch.randn(n, n).to(dtype)
    y = torch.randn(n, n).to(dtype)
    return lambda: torch.matmul(x, y)


def torch_matmul_rate(kind: str, n: int, repeat: int) -> float:
    """Best GFLOP/s of `repeat` timed `torch_matmul(kind, n)` calls after a warm-up call."""
    run = torch_matmul(kind, n)
    run()
    return 2.0 * n**3 / min(_seconds(run) for _ in range(repeat)) / 1e9


def ort_matmul(kind: str, n: int, threads: int) -> Callable[[], Any]:
    """ONNX Runtime on n x n matrices: "int8 ort" is MatMulInteger (uint8 x int8 -> int32, its
    VNNI path), "float32 ort" is MatMul in float32 (MLAS's own kernels, not torch's BLAS)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    if kind == "int8 ort":
        op, types = "MatMulInteger", (TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32)
        feeds = {
            "a": rng.integers(0, 256, (n, n), dtype=np.uint8),
            "b": rng.integers(-128, 128, (n, n), dtype=np.int8),
        }
    else:
        op, types = "MatMul", (TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT)
        feeds = {
            "a": rng.standard_normal((n, n), dtype=np.float32),
            "b": rng.standard_normal((n, n), dtype=np.float32),
        }
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["c"])],
        op.lower(),
        [
            helper.make_tensor_value_info("a", types[0], [n, n]),
            helper.make_tensor_value_info("b", types[1], [n, n]),
        ],
        [helper.make_tensor_value_info("c", types[2], [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No spinning after a run: idle spinners would steal the cores from the next torch call.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda: session.run(None, feeds)


def matmul_rates(
    sizes: Sequence[int] = SIZES, repeat: int = 5, threads: int | None = None
) -> dict[str, dict[int, float]]:
    """Best GFLOP/s by kind and matrix size over `repeat` rounds, each round timing one call of
    every (kind, size) in turn, so every kind samples the same moments of a shared machine's
    load. A 16-bit type under a fifth of float32's rate at the first size (best of 3 calls:
    emulated) is kept to that size, so a slow type does not stall the run."""
    import torch

    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    kinds = ["float32", "bfloat16", "float16", "int8"]
    try:
        import onnxruntime  # noqa: F401

        kinds += ["float32 ort", "int8 ort"]
    except ImportError:
        pass
    runs: dict[tuple[str, int], Callable[[], Any]] = {}
    first: dict[str, float] = {}
    for kind in kinds:
        for n in sizes:
            run = ort_matmul(kind, n, threads) if kind.endswith(" ort") else torch_matmul(kind, n)
            run()  # warm-up
            runs[kind, n] = run
            first.setdefault(kind, 2.0 * n**3 / min(_seconds(run) for _ in range(3)) / 1e9)
            if kind in EMULATED_CHECK and first[kind] < 0.2 * first["float32"]:
                break  # emulated: larger sizes would only take minutes to say the same
    best = {key: float("inf") for key in runs}
    for _ in range(repeat):
        for key, run in runs.items():
            best[key] = min(best[key], _seconds(run))
    rates: dict[str, dict[int, float]] = {kind: {} for kind in kinds}
    for (kind, n), seconds in best.items():
        rates[kind][n] = 2.0 * n**3 / seconds / 1e9
    return rates


def matmul_peak(
    sizes: Sequence[int] = SIZES, repeat: int = 5, threads: int | None = None
) -> dict[str, float]:
    """This machine's best matmul GFLOP/s per kind: float32, bfloat16, float16, int8 (torch
    `_int_mm`) and, with onnxruntime installed, "float32 ort" (MatMul) and "int8 ort"
    (MatMulInteger)."""
    return {
        kind: max(by_size.values())
        for kind, by_size in matmul_rates(sizes, repeat, threads).items()
    }


def scifact_sentences(limit: int) -> list[str]:
    """The first `limit` sentences of the SciFact corpus, split as `sentence_chunker` splits."""
    from ragloom.chunking.sentences import split_sentences
    from ragloom.loaders.files import load_beir_corpus

    out: list[str] = []
    for doc in load_beir_corpus(DATASET):
        out += [doc.text[start:end] for start, end in split_sentences(doc.text)]
        if len(out) >= limit:
            break
    return out[:limit]


def token_windows(tokenizer: Any, texts: Iterable[str], width: int, limit: int) -> list[str]:
    """Consecutive `width`-token windows of `texts`, decoded, at most `limit` of them."""
    out: list[str] = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        out += [tokenizer.decode(ids[i : i + width]) for i in range(0, len(ids), width)]
        if len(out) >= limit:
            break
    return out[:limit]


def rerank_pairs(claims: int, depth: int) -> list[tuple[str, list[str]]]:
    """(claim, `depth` abstracts): SciFact test claims, each with `depth` consecutive abstracts
    (title + text, as the BM25 document chunk a reranker reads in examples/hybrid-rerank.yaml)."""
    from ragloom.evaluation.beir import load_split
    from ragloom.loaders.files import load_beir_corpus

    queries, _ = load_split(DATASET, "test")
    docs = load_beir_corpus(DATASET)
    return [
        (claim, [doc.text for doc in docs[n * depth : (n + 1) * depth]])
        for n, claim in enumerate(list(queries.values())[:claims])
    ]


def batch_lengths(batches: Iterable[tuple[list[int], Any]]) -> tuple[list[int], list[int]]:
    """(real token counts, padded widths) of every row of tokenized batches."""
    real: list[int] = []
    padded: list[int] = []
    for rows, batch in batches:
        mask = batch["attention_mask"]
        real += [int(n) for n in mask.sum(dim=1)]
        padded += [int(mask.shape[1])] * len(rows)
    return real, padded


def padded_flops(config: Any, batches: Iterable[tuple[list[int], Any]]) -> float:
    """Matmul FLOPs the tokenized `batches` really run: `model_flops` over their padded widths."""
    return model_flops(config, batch_lengths(batches)[1])


def timed(run: Callable[[], Any], repeat: int, dtype: str) -> tuple[float, float]:
    """(best wall time of `repeat` calls after a warm-up call, best GFLOP/s of a 2048-square
    `dtype` matmul probed just before each call): on a shared machine the probe sees the same
    load as the model, so their ratio holds better than a ratio to a peak measured earlier."""
    run()
    best, probe = float("inf"), 0.0
    for _ in range(repeat):
        probe = max(probe, torch_matmul_rate(dtype, PROBE_SIZE, 2))
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best, probe


def model_rows(args: argparse.Namespace, dtypes: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (workload, dtype): items/s and achieved GFLOP/s over real and padded tokens."""
    from ragloom.loaders.files import load_beir_corpus

    sentences = scifact_sentences(args.sentences)
    abstracts = [doc.text for doc in load_beir_corpus(DATASET)]
    pairs = rerank_pairs(args.claims, 20)
    rows = []
    for dtype in dtypes:
        rows += encoder_rows(dtype, sentences, abstracts, args.chunks, args.repeat)
        rows.append(cross_encoder_row(args.reranker, dtype, pairs, args.repeat))
    return rows


def encoder_rows(
    dtype: str, sentences: list[str], abstracts: list[str], chunks: int, repeat: int
) -> list[dict[str, Any]]:
    """MiniLM `TextEncoder.encode` at batch 32 over sentences and over 128-token windows."""
    from ragloom.chunking.text_encoder import TextEncoder

    encoder = TextEncoder.shared("minilm", device="cpu", dtype=dtype)  # type: ignore[arg-type]
    windows = token_windows(encoder.tokenizer, abstracts, 128, chunks)
    rows = []
    for name, texts in (("sentences", sentences), ("128-token chunks", windows)):
        real, padded = batch_lengths(encoder.batches(texts, batch_size=32))
        seconds, probe = timed(
            functools.partial(encoder.encode, texts, batch_size=32), repeat, dtype
        )
        config = encoder.model.config
        rows.append(_row("MiniLM encoder", name, dtype, real, padded, (seconds, probe), config))
    return rows


def cross_encoder_row(
    model: str, dtype: str, pairs: list[tuple[str, list[str]]], repeat: int
) -> dict[str, Any]:
    """`CrossEncoder.score` over each claim's passages (batch 16, pairs cut to 256 tokens)."""
    from ragloom.rerank.cross_encoder import CrossEncoder

    cross = CrossEncoder.shared(model, device="cpu", dtype=dtype)  # type: ignore[arg-type]
    real, padded = [], []
    for claim, passages in pairs:
        r, p = batch_lengths(cross.batches(passages, batch_size=16, max_length=256, query=claim))
        real += r
        padded += p

    def score_all() -> None:
        for claim, passages in pairs:
            cross.score(claim, passages, batch_size=16, max_length=256)

    timing = timed(score_all, repeat, dtype)
    return _row("cross-encoder", "depth-20 pairs", dtype, real, padded, timing, cross.model.config)


def _row(
    model: str,
    workload: str,
    dtype: str,
    real: list[int],
    padded: list[int],
    timing: tuple[float, float],
    config: Any,
) -> dict[str, Any]:
    seconds, probe = timing
    return {
        "model": model,
        "workload": workload,
        "dtype": dtype,
        "items": len(real),
        "real_tokens": sum(real),
        "padded_tokens": sum(padded),
        "seconds": seconds,
        "items_per_s": len(real) / seconds,
        "gflops_real": model_flops(config, real) / seconds / 1e9,
        "gflops_padded": model_flops(config, padded) / seconds / 1e9,
        "matmul_alongside": probe,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per model row")
    parser.add_argument("--peak-repeat", type=int, default=10, help="timed matmuls per size")
    parser.add_argument("--peak-only", action="store_true")
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--chunks", type=int, default=256)
    parser.add_argument("--claims", type=int, default=10)
    parser.add_argument(
        "--reranker",
        default="minilm",
        help="cross-encoder folder or alias; the default, bundled MiniLM under an untrained "
        "classification head, is the architecture `ragloom train-reranker` builds (same FLOPs)",
    )
    args = parser.parse_args()

    import torch

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    flags = cpu_flags()
    print(
        f"{platform.processor() or platform.machine()}, {threads} cores, torch "
        f"{torch.__version__} threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    rates = matmul_rates(args.sizes, args.peak_repeat, threads)
    peak = {kind: max(by_size.values()) for kind, by_size in rates.items()}
    print(
        "\n| kind | "
        + " | ".join(f"n={n}" for n in args.sizes)
        + " | peak GFLOP/s | vs float32 | fast-path CPU flags |"
    )
    print("|---|" + "---|" * len(args.sizes) + "---|---|---|")
    for kind, by_size in rates.items():
        cells = " | ".join(f"{by_size[n]:.1f}" if n in by_size else "-" for n in args.sizes)
        have = [f for f in FAST_FLAGS.get(kind.split()[0], ()) if f in flags]
        print(
            f"| {kind} | {cells} | {peak[kind]:.1f} | {peak[kind] / peak['float32']:.2f}x | "
            f"{', '.join(have) or 'none'} |"
        )
    result: dict[str, Any] = {"peak_gflops": peak, "rates": rates}
    if not args.peak_only:
        native_bf16 = any(flag in flags for flag in FAST_FLAGS["bfloat16"])
        fast_bf16 = native_bf16 or peak["bfloat16"] > peak["float32"]
        dtypes = ["float32"] + (["bfloat16"] if fast_bf16 else [])
        rows = model_rows(args, dtypes)
        print(
            "\n| model | workload | dtype | items | real / padded tokens | items/s | GFLOP/s real "
            "| GFLOP/s padded | padded % of float32 peak | padded % of its dtype's peak | "
            f"{PROBE_SIZE}-matmul GFLOP/s alongside | padded % of that |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            padded = row["gflops_padded"]
            print(
                f"| {row['model']} | {row['workload']} | {row['dtype']} | {row['items']} | "
                f"{row['real_tokens']} / {row['padded_tokens']} | {row['items_per_s']:.1f} | "
                f"{row['gflops_real']:.1f} | {padded:.1f} | {padded / peak['float32']:.0%} | "
                f"{padded / peak[row['dtype']]:.0%} | {row['matmul_alongside']:.1f} | "
                f"{padded / row['matmul_alongside']:.0%} |"
            )
        result["models"] = rows
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
