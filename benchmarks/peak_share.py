"""A benchmark row as a share of this machine's matmul peak, measured in the same run.

The timing scripts (inference_backends, rerank_backends, index_backends, langchain_stack) take
`--peak-sizes`/`--peak-repeat`, measure the peak with `roofline.matmul_peak` at the start of
their run, and turn each row's FLOPs (`roofline.model_flops` over the padded tokens it ran)
and seconds into GFLOP/s, a % of the float32 peak and a % of the peak of the row's own number
type, so "close to the limit" is a number.

    peak = measure_peak(args)
    share = peak_share(flops, seconds, own_kind("onnx", "float32", "int8"), peak)
    print(f"| onnx int8 | {share_cells(share)} |")
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from roofline import FAST_FLAGS, cpu_flags, matmul_peak

#: Square matmul sizes and interleaved rounds of the peak a run measures at its start
#: (roofline.py's own defaults, 10 rounds, are for the peak table itself).
PEAK_SIZES = (512, 1024, 2048)
PEAK_REPEAT = 3
SHARE_HEADER = "GFLOP/s | % float32 peak | % own-type peak"
SHARE_RULE = "---:|---:|---|"


def add_peak_options(parser: argparse.ArgumentParser) -> None:
    """`--peak-sizes` and `--peak-repeat`: small ones make a smoke run quick."""
    parser.add_argument(
        "--peak-sizes",
        type=int,
        nargs="+",
        default=list(PEAK_SIZES),
        help="square matmul sizes of the peak measured at the start (roofline.matmul_peak)",
    )
    parser.add_argument(
        "--peak-repeat", type=int, default=PEAK_REPEAT, help="timed rounds per peak size"
    )


def measure_peak(sizes: Sequence[int], repeat: int, file: TextIO | None = None) -> dict[str, float]:
    """The best matmul GFLOP/s per kind on torch's current thread count, printed in one line
    (to stdout, or `file`: a script whose stdout is JSON logs it to stderr)."""
    import torch

    peak = matmul_peak(sizes, repeat, torch.get_num_threads())
    cells = ", ".join(f"{kind} {rate:.1f}" for kind, rate in peak.items())
    print(
        f"matmul peak GFLOP/s (sizes {', '.join(map(str, sizes))}, best of {repeat} rounds, "
        f"{torch.get_num_threads()} threads): {cells}",
        file=file or sys.stdout,
        flush=True,
    )
    return peak


def native_bf16() -> bool:
    """True when the CPU has a bf16 dot-product flag (roofline.FAST_FLAGS)."""
    return bool(cpu_flags() & set(FAST_FLAGS["bfloat16"]))


def own_kind(backend: str, dtype: str = "auto", quantize: str = "none") -> str:
    """The `matmul_peak` kind a model row's matmuls run in on the CPU: onnx int8 ->
    "int8 ort" (MatMulInteger), onnx float32 -> "float32 ort" (MLAS), openvino auto ->
    bfloat16 where the CPU has it, torch auto -> float32 (ragloom's CPU default)."""
    if backend == "onnx":
        return "int8 ort" if quantize == "int8" else "float32 ort"
    if dtype == "auto":
        return "bfloat16" if backend == "openvino" and native_bf16() else "float32"
    return dtype


def float32_peak(peak: dict[str, float]) -> float:
    """The machine's float32 matmul peak: the faster of torch's BLAS and ONNX Runtime's MLAS
    (on an AMD EPYC here torch's sgemm reached 183 GFLOP/s, below what whole ONNX models ran)."""
    return max(peak["float32"], peak.get("float32 ort", 0.0))


def peak_share(flops: float, seconds: float, kind: str, peak: dict[str, float]) -> dict[str, Any]:
    """GFLOP/s of `flops` done in `seconds`, and their % of the float32 and `kind` peaks."""
    gflops = flops / seconds / 1e9
    own = peak.get(kind)
    float32 = float32_peak(peak)
    return {
        "gflops": gflops,
        "peak_kind": kind,
        "float32_peak_gflops": float32,
        "own_peak_gflops": own,
        "pct_float32_peak": 100.0 * gflops / float32,
        "pct_own_peak": None if own is None else 100.0 * gflops / own,
    }


def percent(value: float | None) -> str:
    """A share in per cent: one decimal, or two significant digits under 1 % (query rows)."""
    if value is None:
        return "-"
    return f"{value:.1f} %" if value >= 1.0 else f"{value:.2g} %"


def share_cells(share: dict[str, Any]) -> str:
    """The three markdown cells of SHARE_HEADER for a `peak_share` result."""
    return (
        f"{share['gflops']:.1f} | {percent(share['pct_float32_peak'])} | "
        f"{percent(share['pct_own_peak'])} ({share['peak_kind']})"
    )
