"""A transformers text encoder: batched, length-sorted, mean or CLS pooling, L2-normalised.

Loaded models are cached per process (keyed by path, device and dtype) so the chunk encoder and
the query encoder of one pipeline share one copy of the weights.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

import numpy as np

from ragloom.models import load_failure, resolve_model_path

Pooling = Literal["mean", "cls"]
DType = Literal["float32", "bfloat16", "float16"]
_lock = threading.Lock()


def pick_device(device: str) -> str:
    """`auto` means cuda when present, else cpu."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TextEncoder:
    """Tokenizer + AutoModel, with the pooling and batching every encoder stage shares."""

    def __init__(self, model: str, device: str = "auto", dtype: DType = "float32"):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.model_name = model
        path = resolve_model_path(model)
        self.device = pick_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path, dtype=getattr(torch, dtype))
        except OSError as exc:
            raise load_failure(model, exc) from exc
        self.model.to(self.device).eval()
        self.max_length = min(int(getattr(self.model.config, "max_position_embeddings", 512)), 512)
        self.dimension = int(self.model.config.hidden_size)

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        pooling: Pooling = "mean",
        normalize: bool = True,
        max_length: int | None = None,
        progress: Any = None,
    ) -> np.ndarray:
        """Embed texts in length-sorted batches; rows come back in input order."""
        import torch

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        limit = min(max_length or self.max_length, self.max_length)
        with torch.inference_mode():
            for begin in range(0, len(order), batch_size):
                idx = order[begin : begin + batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=limit,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**batch).last_hidden_state
                pooled = pool(hidden, batch["attention_mask"], pooling)
                if normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
                out[idx] = pooled.float().cpu().numpy()
                if progress is not None:
                    progress.update(len(idx))
        return out


def pool(hidden: Any, mask: Any, pooling: Pooling) -> Any:
    """Mean over real tokens (padding excluded), or the first ([CLS]) token."""
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def load_encoder(model: str, device: str = "auto", dtype: DType = "float32") -> TextEncoder:
    """A process-wide shared encoder for these settings (loaded once, thread-safe)."""
    with _lock:
        return _cached_encoder(model, pick_device(device), dtype)


@cache
def _cached_encoder(model: str, device: str, dtype: DType) -> TextEncoder:
    return TextEncoder(model, device=device, dtype=dtype)


@cache
def load_tokenizer(model: str) -> Any:
    """The fast tokenizer of a model (offsets mapping needs a fast tokenizer)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(model))
    except OSError as exc:
        raise load_failure(model, exc) from exc
    if not tokenizer.is_fast:
        raise ValueError(f"tokenizer of {model!r} is not a fast tokenizer; exact spans need one")
    return tokenizer
