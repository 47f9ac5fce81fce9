"""Which runtime runs an encoder's transformer: PyTorch eager (`torch`), ONNX Runtime (`onnx`),
or OpenVINO (`openvino`, over the same ONNX export).

A backend is a small runner: it takes a tokenized batch and returns one output tensor (token
states for an encoder, logits for a cross-encoder), so pooling, prefixes, Matryoshka truncation,
late chunking and batching stay one copy in `TextEncoder` / `CrossEncoder`. `quantize: int8`
(ONNX Runtime dynamic int8) applies to the onnx backend only; torch and openvino take `dtype`
instead (openvino: auto, float32 or bfloat16).

Example::

    encoder = TextEncoder.shared("minilm", backend="onnx", quantize="int8")
    vectors = encoder.encode(["a sentence"])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ragloom.errors import ComponentConfigError, Problem

Backend = Literal["torch", "onnx", "openvino"]
BACKENDS = ("torch", "onnx", "openvino")
Quantize = Literal["none", "int8"]

#: The torch dtypes the onnx backend accepts (it runs float32 graphs; int8 via `quantize`).
ONNX_DTYPES = ("auto", "float32")
#: The dtypes the openvino backend accepts (`auto`: bfloat16 where the CPU has it).
OPENVINO_DTYPES = ("auto", "float32", "bfloat16")


def backend_problem(backend: str, quantize: str, dtype: str) -> tuple[str, str] | None:
    """(message, field) when the settings do not go together, else None."""
    if backend != "onnx" and quantize != "none":
        return (
            f"quantize: {quantize} needs backend: onnx ({backend} takes dtype instead)",
            "quantize",
        )
    if backend == "onnx" and dtype not in ONNX_DTYPES:
        return (
            f"dtype: {dtype} is a torch setting; backend: onnx runs float32 "
            "(quantize: int8 for dynamic int8 weights)",
            "dtype",
        )
    if backend == "openvino" and dtype not in OPENVINO_DTYPES:
        return (
            f"dtype: {dtype} is not an openvino precision; choose one of "
            f"{', '.join(OPENVINO_DTYPES)}",
            "dtype",
        )
    return None


def check_backend(backend: str, quantize: str, dtype: str) -> None:
    """Raise ValueError (one line) when backend, quantize and dtype do not go together."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if quantize not in ("none", "int8"):
        raise ValueError(f"quantize must be 'none' or 'int8', got {quantize!r}")
    problem = backend_problem(backend, quantize, dtype)
    if problem is not None:
        raise ValueError(problem[0])


def refuse_backend(stage: str, backend: str, quantize: str, dtype: str) -> None:
    """Raise ComponentConfigError naming `stage` and the field when the settings clash (a
    stage's `__init__` calls it, so a bad combination fails before any model loads)."""
    problem = backend_problem(backend, quantize, dtype)
    if problem is not None:
        message, field = problem
        raise ComponentConfigError(Problem(f"{stage}: {message}", field=field))


class TorchRunner:
    """Runs a transformers module eagerly and returns its `output` (e.g. `last_hidden_state`),
    on `threads` intra-op threads when given (torch's OpenMP count is per calling thread, so
    this stage's setting does not change another stage's running beside it)."""

    def __init__(self, module: Any, output: str, threads: int | None = None):
        self.module = module
        self.output = output
        self.threads = threads

    def __call__(self, batch: Mapping[str, Any]) -> Any:
        if self.threads is None:
            return getattr(self.module(**batch), self.output)
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return getattr(self.module(**batch), self.output)
        finally:
            torch.set_num_threads(before)
