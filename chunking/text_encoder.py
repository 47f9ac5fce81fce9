"""A transformers text encoder: batched, length-sorted, mean or CLS pooling, L2-normalised.

Also: an optional text prefix (E5 "passage: ", nomic "search_query: "), Matryoshka truncation
of the embedding (`truncate_dim`, applied before normalising), and `token_states` for stages
that pool token embeddings themselves (late chunking).

Loaded models are cached per process (keyed by path, device and dtype) so the chunk encoder and
the query encoder of one pipeline share one copy of the weights.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any, Literal

import numpy as np

from ragloom.devices import DType, pick_device, pick_dtype
from ragloom.models import load_failure, load_pretrained, resolve_model_path

Pooling = Literal["mean", "cls"]
_lock = threading.Lock()


class TextEncoder:
    """Tokenizer + AutoModel, with the pooling and batching every encoder stage shares."""

    def __init__(self, model: str, device: str = "auto", dtype: DType = "auto"):
        from transformers import AutoModel

        self.model_name = model
        self.device = pick_device(device)
        self.tokenizer, self.model = load_pretrained(
            model, AutoModel, pick_dtype(dtype, self.device)
        )
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
        prefix: str = "",
        truncate_dim: int | None = None,
    ) -> np.ndarray:
        """Embed texts in length-sorted batches; rows come back in input order."""
        import torch

        if prefix:
            texts = [prefix + text for text in texts]
        out = np.zeros((len(texts), self.output_dimension(truncate_dim)), dtype=np.float32)
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
                out[idx] = finish(pooled.float(), normalize, truncate_dim).cpu().numpy()
                if progress is not None:
                    progress.update(len(idx))
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

        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]), reverse=True)
        pad = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for idx in _batches(order, [len(s) for s in sequences], batch_size, batch_tokens):
                width = len(sequences[idx[0]])
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    ids[row, : len(sequences[i])] = torch.tensor(list(sequences[i]))
                    mask[row, : len(sequences[i])] = 1
                hidden = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
                ).last_hidden_state.float()
                for row, i in enumerate(idx):
                    yield i, hidden[row, : len(sequences[i])]


def _batches(
    order: list[int], lengths: list[int], batch_size: int, batch_tokens: int
) -> Iterator[list[int]]:
    """Consecutive groups of `order` (longest first) within both batch limits."""
    batch: list[int] = []
    for i in order:
        width = lengths[batch[0]] if batch else lengths[i]
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * width > batch_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


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


def load_encoder(model: str, device: str = "auto", dtype: DType = "auto") -> TextEncoder:
    """A process-wide shared encoder for these settings (loaded once, thread-safe)."""
    device = pick_device(device)
    concrete = str(pick_dtype(dtype, device)).removeprefix("torch.")  # "auto" shares its match
    with _lock:
        return _cached_encoder(model, device, concrete)


@cache
def _cached_encoder(model: str, device: str, dtype: str) -> TextEncoder:
    return TextEncoder(model, device=device, dtype=dtype)  # type: ignore[arg-type]


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
