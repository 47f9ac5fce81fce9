"""Export a transformers encoder or cross-encoder to ONNX once, into the model cache.

The first load of a model on the onnx backend traces it (eager attention, float32) with a
padded two-row batch and dynamic batch and sequence axes, so the attention mask is a real graph
input and padded rows come out as in PyTorch. BERT-like graphs are then fused offline by ONNX
Runtime's transformer optimizer (attention, skip-layer-norm, GELU); the fused graph is checked
against PyTorch on that padded batch and the plain graph kept instead if they disagree.
`quantize: int8` adds a dynamically quantised copy (int8 weights, per-channel) built from the
float32 one. Each lands in `$RAGLOOM_CACHE/models/onnx-...` through `cached_entry`: built in a
temporary folder and renamed into place, so a concurrent or killed process never leaves half a
model, and later loads (any process) reuse it.

The cache name hashes the resolved model folder, its files' sizes and modification times, the
output, the export revision and the onnxruntime version: a retrained folder is exported anew.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from pathlib import Path
from typing import Any

from ragloom.model_cache import cached_entry
from ragloom.models import load_pretrained, resolve_model_path
from ragloom.onnx_runtime import onnx_session

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
#: Bump to invalidate every exported model in the caches.
EXPORT_REVISION = "1"
OPSET = 17
#: The largest token-state (or logit) difference to PyTorch a fused graph may show on the
#: export's padded check batch before the plain graph is kept instead.
FUSED_TOLERANCE = 1e-3
#: Model types whose graphs ONNX Runtime's BERT fusions recognise.
BERT_LIKE = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "mpnet")
_EXAMPLE = (
    ["a query", "another, longer query"],
    ["a short passage", "a much longer passage, so that the first row of the batch is padded"],
)


def onnx_model_file(model: str, auto_class: str, output: str, quantize: str = "none") -> Path:
    """The cached ONNX file of `model` (exported on first use) returning `output`."""
    path = resolve_model_path(model)
    name = f"onnx-{_slug(model)}-{_fingerprint(path, auto_class, output)}"
    fp32 = cached_entry(name, lambda out: export(model, auto_class, output, out / MODEL_FILE))
    if quantize == "none":
        return fp32 / MODEL_FILE
    entry = cached_entry(
        f"{name}-{quantize}", lambda out: quantize_int8(fp32 / MODEL_FILE, out / MODEL_FILE)
    )
    return entry / MODEL_FILE


def export(model: str, auto_class: str, output: str, target: Path) -> None:
    """Trace `model` to `target` (float32, dynamic batch and sequence), fused where it is safe."""
    import torch
    import transformers

    logger.warning("exporting %s to ONNX once into %s", model, target.parent.parent)
    tokenizer, module = load_pretrained(
        model, getattr(transformers, auto_class), torch.float32, attn_implementation="eager"
    )
    module.eval()
    example = tokenizer(*_EXAMPLE, padding=True, return_tensors="pt")
    names = list(example.keys())
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    if output == "last_hidden_state":
        axes[output] = {0: "batch", 1: "sequence"}
    else:
        axes[output] = {0: "batch"}
    plain = target.with_name("plain.onnx")
    wrapper = _single_output(module, names, output).eval()  # the exporter restores this mode
    with warnings.catch_warnings(), torch.inference_mode():
        expected = getattr(module(**example), output).numpy()
        warnings.simplefilter("ignore")  # TracerWarnings about Python-side shape checks
        torch.onnx.export(
            wrapper,
            tuple(example[name] for name in names),
            str(plain),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    mask = example["attention_mask"].numpy()
    fused = _fuse(plain, target, module.config)
    if fused and _gap(target, example, expected, mask) <= FUSED_TOLERANCE:
        plain.unlink()
        return
    if fused:
        logger.warning("the fused ONNX graph of %s differs from PyTorch: kept it unfused", model)
    plain.replace(target)
    gap = _gap(target, example, expected, mask)
    if gap > FUSED_TOLERANCE:
        raise RuntimeError(f"the ONNX export of {model!r} differs from PyTorch by {gap:.2g}")


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of `source` (per-channel int8 weights, uint8 activations)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _require_onnx()
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": 1},  # FLOAT, for fused ops shape inference skips
    )


def _single_output(module: Any, names: list[str], output: str) -> Any:
    """`module` as a torch module taking the tokenizer's tensors positionally, returning one
    output (what the tracer needs)."""
    import torch

    class SingleOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, *tensors: Any) -> Any:
            return getattr(self.module(**dict(zip(names, tensors, strict=True))), output)

    return SingleOutput()


def _fuse(plain: Path, target: Path, config: Any) -> bool:
    """Write the graph fused by ONNX Runtime's transformer optimizer; False where not BERT-like."""
    if getattr(config, "model_type", None) not in BERT_LIKE:
        return False
    _require_onnx()
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(
        str(plain),
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
        opt_level=0,  # fusions only: the session applies ORT_ENABLE_ALL itself
    )
    fused.save_model_to_file(str(target))
    return True


def _gap(path: Path, example: Any, expected: Any, mask: Any) -> float:
    """The largest difference to `expected` over real (unpadded) positions."""
    import numpy as np

    session = onnx_session(path, threads=1)
    feed = {i.name: example[i.name].numpy() for i in session.get_inputs()}
    got = session.run(None, feed)[0]
    if got.shape != expected.shape:
        return float("inf")
    diff = np.abs(got - expected)
    if diff.ndim == 3:  # token states: padding positions carry no meaning
        diff = diff * mask[..., None]
    return float(diff.max())


def _fingerprint(path: str, auto_class: str, output: str) -> str:
    """A short hash of what the export depends on (see the module docstring)."""
    import onnxruntime

    folder = Path(path)
    if not folder.is_dir():
        folder = _hub_snapshot(path) or folder
    parts = [str(folder.resolve()), auto_class, output, EXPORT_REVISION, onnxruntime.__version__]
    if folder.is_dir():
        for file in sorted(folder.iterdir()):
            if file.is_file():
                stat = file.stat()
                parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot folder of a hub model (its name is the commit), if one is cached."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, or not a hub id: the id alone names the export
        return None


def _slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[-48:] or "model"


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError(
            "backend: onnx needs the `onnx` package to optimise and quantise the exported "
            "model; `pip install onnx==1.23.2`"
        ) from None
