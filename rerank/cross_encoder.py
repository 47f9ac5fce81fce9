"""A transformers cross-encoder: scores (query, passage) pairs jointly, batched and truncated.

Any `AutoModelForSequenceClassification` checkpoint works: a local folder (for example one
written by `ragloom train-reranker`), a bundled alias, or a hub id such as
`cross-encoder/ms-marco-MiniLM-L6-v2` for users with a network. A one-label model's logit is the
score; a two-label model scores by its "relevant" (last) logit minus the first.

Loaded models are cached per process (keyed by path, device and dtype), like the encoders.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from ragloom.devices import DType, pick_device, pick_dtype
from ragloom.models import load_pretrained

_lock = threading.Lock()


class CrossEncoder:
    """Tokenizer + sequence-classification head; `score` returns one relevance per pair."""

    def __init__(self, model: str, device: str = "auto", dtype: DType = "auto"):
        from transformers import AutoModelForSequenceClassification

        self.model_name = model
        self.device = pick_device(device)
        self.tokenizer, self.model = load_pretrained(
            model, AutoModelForSequenceClassification, pick_dtype(dtype, self.device)
        )
        self.model.to(self.device).eval()
        self.num_labels = int(self.model.config.num_labels)
        positions = int(getattr(self.model.config, "max_position_embeddings", 512))
        self.max_length = min(positions, 512)

    def score(
        self,
        query: str,
        passages: Sequence[str],
        *,
        batch_size: int = 16,
        max_length: int | None = None,
        progress: Any = None,
    ) -> np.ndarray:
        """float32 relevance of each passage to the query, in input order.

        Pairs are sorted by length so each padded batch wastes little work; the pair is cut to
        `max_length` tokens, the passage first (`longest_first`), so a long passage never pushes
        the query out.
        """
        import torch

        out = np.zeros(len(passages), dtype=np.float32)
        limit = min(max_length or self.max_length, self.max_length)
        order = sorted(range(len(passages)), key=lambda i: len(passages[i]), reverse=True)
        with torch.inference_mode():
            for begin in range(0, len(order), batch_size):
                idx = order[begin : begin + batch_size]
                batch = self.tokenizer(
                    [query] * len(idx),
                    [passages[i] for i in idx],
                    padding=True,
                    truncation="longest_first",
                    max_length=limit,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**batch).logits.float()
                out[idx] = relevance(logits).cpu().numpy()
                if progress is not None:
                    progress.update(len(idx))
        return out


def relevance(logits: Any) -> Any:
    """One score per row: the logit of a one-label head, else last minus first logit."""
    if logits.shape[-1] == 1:
        return logits[:, 0]
    return logits[:, -1] - logits[:, 0]


def load_cross_encoder(model: str, device: str = "auto", dtype: DType = "auto") -> CrossEncoder:
    """A process-wide shared cross-encoder for these settings (loaded once, thread-safe)."""
    device = pick_device(device)
    concrete = str(pick_dtype(dtype, device)).removeprefix("torch.")
    with _lock:
        return _cached(model, device, concrete)


@cache
def _cached(model: str, device: str, dtype: str) -> CrossEncoder:
    return CrossEncoder(model, device=device, dtype=dtype)  # type: ignore[arg-type]
