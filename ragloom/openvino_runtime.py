"""The openvino backend's runner: OpenVINO's CPU plugin compiling the same cached ONNX export
the onnx backend runs (`ragloom.onnx_export`), so there is one export and one set of checks.

OpenVINO picks its inference precision per CPU: on CPUs with bf16 instructions `dtype: auto`
runs bfloat16 (cosine to float32 about 0.99996 for MiniLM, benchmarks/README.md), elsewhere
float32; `dtype: float32` or `bfloat16` asks for one. It uses as many threads as torch in this
process (or the stage's `threads`). One compiled model serves every thread; each thread runs
its own infer request (a request is not thread-safe).

Example::

    encoder = TextEncoder.shared("minilm", backend="openvino")
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ragloom.errors import RagloomError
from ragloom.onnx_runtime import numpy_feed

#: OpenVINO's names for the precisions `dtype` may ask for (`auto`: the plugin's choice).
PRECISIONS = {"float32": "f32", "bfloat16": "bf16"}


class OpenVinoMissing(RagloomError):
    """`backend: openvino` without the openvino package."""


def openvino_device(device: str) -> str:
    """The device the openvino backend runs on: the CPU (`auto` included)."""
    if device in ("auto", "cpu"):
        return "cpu"
    raise ValueError(
        f"backend: openvino runs on the CPU here; device {device!r} needs backend: torch"
    )


def compile_openvino(path: Path, threads: int | None = None, dtype: str = "auto") -> Any:
    """The ONNX file at `path` compiled for OpenVINO's CPU plugin."""
    try:
        import openvino
    except ImportError:
        raise OpenVinoMissing(
            "backend: openvino needs the openvino package: pip install 'ragloom[openvino]'"
        ) from None
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if dtype in PRECISIONS:
        config["INFERENCE_PRECISION_HINT"] = PRECISIONS[dtype]
    return openvino.Core().compile_model(str(path), "CPU", config)


class OpenVinoRunner:
    """Runs a tokenized batch through a compiled model; returns the output as a torch tensor."""

    def __init__(self, compiled: Any, output: str):
        self.compiled = compiled
        self.output = output
        self.inputs = [port.get_any_name() for port in compiled.inputs]
        self._local = threading.local()

    def __call__(self, batch: Mapping[str, Any]) -> Any:
        import torch

        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer(numpy_feed(batch, self.inputs))
        return torch.from_numpy(result[self.compiled.output(self.output)].copy())
