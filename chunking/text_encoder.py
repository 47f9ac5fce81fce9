"""A transformers text encoder: batched, length-sorted, mean or CLS pooling, L2-normalised.

Also: an optional text prefix (E5 "passage: ", nomic "search_query: "), Matryoshka truncation
of the embedding (`truncate_dim`, applied before normalising), and `token_states` for stages
that pool token embeddings themselves (late chunking).

Loading, the per-process cache (keyed by model, device, dtype, backend and quantize, so the chunk
encoder and the query encoder of one pipeline share one copy of the weights), the backend that
runs the model (torch, or onnx: `ragloom.backends`) and the length-sorted batches come from
`ragloom.pretrained`, shared with the cross-encoder.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

from ragloom.backends import Backend, Quantize
from ragloom.devices import DType
from ragloom.pretrained import BatchEncoder, length_batches

Pooling = Literal["mean", "cls"]


class TextEncoder(BatchEncoder):
    """Tokenizer + AutoModel, with the pooling and batching every encoder stage shares."""

    auto_class = "AutoModel"

    @property
    def dimension(self) -> int:
        """The model's embedding size (before any Matryoshka truncation)."""
        return int(self.config.hidden_size)

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        pooling: Pooling = "mean",
        normalize: bool = True,
        max_length: int | None = None,
        progress: Any = None,
        prefix: str = "",
        truncate_dim: int | None = None,
    ) -> np.ndarray:
        """Embed texts in length-sorted batches; rows come back in input order."""
        import torch

        if prefix:
            texts = [prefix + text for text in texts]
        out = np.zeros((len(texts), self.output_dimension(truncate_dim)), dtype=np.float32)
        batches = self.batches(
            texts, batch_size=batch_size, max_length=max_length, progress=progress
        )
        with torch.inference_mode():
            for rows, batch in batches:
                hidden = self.forward(batch)
                pooled = pool(hidden, batch["attention_mask"], pooling)
                out[rows] = finish(pooled.float(), normalize, truncate_dim).cpu().numpy()
        return out

    def output_dimension(self, truncate_dim: int | None = None) -> int:
        """The embedding size after optional Matryoshka truncation (checked against the model)."""
        if truncate_dim is None:
            return self.dimension
        if truncate_dim > self.dimension:
            raise ValueError(
                f"truncate_dim={truncate_dim} is larger than the embedding size "
                f"{self.dimension} of {self.model_name!r}"
            )
        return truncate_dim

    def token_states(
        self, sequences: Sequence[Sequence[int]], batch_size: int = 32, batch_tokens: int = 4096
    ) -> Iterator[tuple[int, Any]]:
        """(index, float32 hidden states [len, dim]) for token-id sequences, in length-sorted,
        padded batches under `inference_mode`; sequences must already hold special tokens.

        A batch holds at most `batch_size` sequences and `batch_tokens` padded tokens: long
        sequences batch fewer at a time, which keeps attention's working set in cache.
        """
        import torch

        pad = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for idx in length_batches([len(s) for s in sequences], batch_size, batch_tokens):
                width = len(sequences[idx[0]])
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    ids[row, : len(sequences[i])] = torch.tensor(list(sequences[i]))
                    mask[row, : len(sequences[i])] = 1
                batch = {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}
                hidden = self.forward(batch).float()
                for row, i in enumerate(idx):
                    yield i, hidden[row, : len(sequences[i])]


def finish(pooled: Any, normalize: bool, truncate_dim: int | None) -> Any:
    """Truncate to the first `truncate_dim` dimensions (Matryoshka), then L2-normalise."""
    import torch

    if truncate_dim is not None:
        pooled = pooled[..., :truncate_dim]
    if normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
    return pooled


def pool(hidden: Any, mask: Any, pooling: Pooling) -> Any:
    """Mean over real tokens (padding excluded), or the first ([CLS]) token."""
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def load_encoder(
    model: str,
    device: str = "auto",
    dtype: DType = "auto",
    backend: Backend = "torch",
    quantize: Quantize = "none",
    threads: int | None = None,
) -> TextEncoder:
    """A process-wide shared encoder for these settings (loaded once, thread-safe)."""
    return TextEncoder.shared(model, device, dtype, backend, quantize, threads)
