"""A transformers cross-encoder: scores (query, passage) pairs jointly, batched and truncated.

Any `AutoModelForSequenceClassification` checkpoint works: a local folder (for example one
written by `ragloom train-reranker`), a bundled alias, or a hub id such as
`cross-encoder/ms-marco-MiniLM-L6-v2` for users with a network. A one-label model's logit is the
score; a two-label model scores by its "relevant" (last) logit minus the first.

Loading, the per-process cache (keyed by model, device, dtype, backend and quantize), the backend
that runs the model (torch, or onnx: `ragloom.backends`) and the length-sorted batches come from
`ragloom.pretrained`, shared with the text encoders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ragloom.backends import Backend, Quantize
from ragloom.devices import DType
from ragloom.pretrained import BatchEncoder


class CrossEncoder(BatchEncoder):
    """Tokenizer + sequence-classification head; `score` returns one relevance per pair."""

    auto_class = "AutoModelForSequenceClassification"
    output_name = "logits"

    @property
    def num_labels(self) -> int:
        """Logits per pair: one (the score), or several (the last is "relevant")."""
        return int(self.config.num_labels)

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
        return self.score_pairs(
            [query] * len(passages),
            passages,
            batch_size=batch_size,
            max_length=max_length,
            progress=progress,
        )

    def score_pairs(
        self,
        queries: Sequence[str],
        passages: Sequence[str],
        *,
        batch_size: int = 16,
        max_length: int | None = None,
        progress: Any = None,
    ) -> np.ndarray:
        """float32 relevance of each passage to its own query (`queries[i]`, `passages[i]`), in
        input order: many questions' pairs sorted by length together into shared batches, as
        `score` sorts one question's."""
        import torch

        out = np.zeros(len(passages), dtype=np.float32)
        batches = self.batches(
            passages,
            batch_size=batch_size,
            max_length=max_length,
            query=queries,
            progress=progress,
        )
        with torch.inference_mode():
            for rows, batch in batches:
                out[rows] = relevance(self.forward(batch).float()).cpu().numpy()
        return out


def relevance(logits: Any) -> Any:
    """One score per row: the logit of a one-label head, else last minus first logit."""
    if logits.shape[-1] == 1:
        return logits[:, 0]
    return logits[:, -1] - logits[:, 0]


def load_cross_encoder(
    model: str,
    device: str = "auto",
    dtype: DType = "auto",
    backend: Backend = "torch",
    quantize: Quantize = "none",
    threads: int | None = None,
) -> CrossEncoder:
    """A process-wide shared cross-encoder for these settings (loaded once, thread-safe)."""
    return CrossEncoder.shared(model, device, dtype, backend, quantize, threads)
