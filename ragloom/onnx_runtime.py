"""The onnx backend's runner: an ONNX Runtime session over the cached export of a model.

The session runs on the CPU with every graph optimisation on (ORT_ENABLE_ALL) and as many
intra-op threads as torch uses in this process (`torch.get_num_threads()`, which follows
OMP_NUM_THREADS, as Ray sets it per actor), so one setting bounds both runtimes. Runs are
thread-safe: concurrent calls share one session.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def onnx_device(device: str) -> str:
    """The device the onnx backend runs on: the CPU (`auto` included); CUDA is refused."""
    if device in ("auto", "cpu"):
        return "cpu"
    raise ValueError(
        f"backend: onnx runs on the CPU (onnxruntime's CPU build); device {device!r} "
        "needs backend: torch"
    )


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session over `path`, all graph optimisations on."""
    import onnxruntime as ort

    if threads is None:
        import torch

        threads = torch.get_num_threads()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No spin-waiting after a run: ONNX Runtime's idle threads otherwise spin for a while and
    # take the cores from the stages that run next (a query's Chroma search, BM25).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: fused-graph notices are not the user's concern
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def numpy_feed(batch: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """The named inputs of a tokenized batch as numpy arrays; `token_type_ids` default to
    zeros, as in transformers (the onnx and openvino runners feed the same export)."""
    import torch

    ids = batch["input_ids"]
    return {
        name: (batch[name] if name in batch else torch.zeros_like(ids)).cpu().numpy()
        for name in names
    }


class OnnxRunner:
    """Runs a tokenized batch through an ONNX session; returns the output as a torch tensor."""

    def __init__(self, session: Any, output: str):
        self.session = session
        self.output = output
        self.inputs = [i.name for i in session.get_inputs()]

    def __call__(self, batch: Mapping[str, Any]) -> Any:
        import torch

        feed = numpy_feed(batch, self.inputs)
        return torch.from_numpy(self.session.run([self.output], feed)[0])
