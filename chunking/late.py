"""Late chunking: embed each chunk from token states computed over its whole document.

The document is tokenized once (with offsets) and run through the transformer once; each chunk's
embedding is the mean of the token states inside its character span (special and prefix tokens
excluded), then normalised. Chunk boundaries are whatever the chunker produced, so late and
naive ("each chunk alone") embeddings are comparable one to one. Windows run longest first in
padded batches of at most `batch_size` windows and `batch_tokens` tokens (default: 1536 on
CPU, 32768 on GPU), under `inference_mode`, so each token is encoded once and little is spent
on padding.

Documents longer than the model window are encoded in overlapping macro-windows ("long late
chunking"): every window after the first drops its first `window_overlap` tokens, so each token
takes its state from the window that gives it left context. `late_weight` < 1 blends in the
naive embedding, `normalise(w * late + (1 - w) * naive)`, at the cost of one extra batched pass
over the (short) chunks.

The stage is a drop-in for `chunk_encoder` (`chunks` in, `chunks` out). It needs each chunk's
document text: connect `documents` (e.g. from the loader) to give it exactly; otherwise the text
is reassembled from the chunks' own spans, which is exact whenever the chunks cover their
document (every built-in chunker's do; a gap between chunks is filled with spaces).

Example YAML::

    encoder:
      type: late_chunking_encoder
      init_parameters: {model: minilm, late_weight: 0.5}
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, Field, NonNegativeInt, PositiveInt
from pydantic_core import PydanticCustomError

from ragloom.chunking.encoders import EncoderStage
from ragloom.chunking.pooling import (
    Window,
    add_span_sums,
    chunk_token_spans,
    plan_windows,
    special_wrap,
)
from ragloom.chunking.text_encoder import Pooling, finish
from ragloom.component import output_types
from ragloom.errors import ComponentConfigError, Problem
from ragloom.progress import progress_bar
from ragloom.registry import register
from ragloom.types import Chunk, Document

#: Default padded tokens per batch (measured on a 2-core CPU: 1536 tokens per batch encodes
#: SciFact about 6 % faster than 4096, whose attention scores fall out of cache).
CPU_BATCH_TOKENS = 1536
GPU_BATCH_TOKENS = 32768


def _tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))


def _mean_only(pooling: str) -> str:
    if pooling != "mean":
        raise PydanticCustomError(
            "late_pooling", "must be 'mean' (late chunking mean-pools each chunk's token states)"
        )
    return pooling


#: Late chunking pools by mean only (the inherited `pooling` parameter, narrowed).
MeanPooling = Annotated[Pooling, AfterValidator(_mean_only)]


def reassemble(chunks: list[Chunk]) -> str:
    """A document's text rebuilt from its chunks' spans (gaps between chunks become spaces)."""
    parts: list[str] = []
    pos = 0
    for chunk in sorted(chunks, key=lambda c: (c.start, c.end)):
        if chunk.start > pos:
            parts.append(" " * (chunk.start - pos))
            pos = chunk.start
        if chunk.end > pos:
            parts.append(chunk.text[pos - chunk.start :])
            pos = chunk.end
    return "".join(parts)


@register("late_chunking_encoder")
class LateChunkingEncoder(EncoderStage):
    """Embeds chunks by pooling their tokens' states from a whole-document pass (late chunking)."""

    def __init__(
        self,
        pooling: MeanPooling = "mean",
        window_size: PositiveInt | None = None,
        window_overlap: NonNegativeInt = 128,
        late_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0,
        batch_tokens: PositiveInt | None = None,
        **inherited: Any,
    ):
        """Takes every `EncoderStage` parameter too; `pooling` can only be `mean`."""
        if window_size is not None and window_overlap >= window_size:
            raise ComponentConfigError(
                Problem(
                    f"late_chunking_encoder: window_overlap ({window_overlap}) must be smaller "
                    f"than window_size ({window_size})",
                    field="window_overlap",
                )
            )
        super().__init__(pooling=pooling, **inherited)
        self.window_size = window_size
        self.window_overlap = window_overlap
        self.late_weight = late_weight
        self.batch_tokens = batch_tokens
        self._wrap: tuple[list[int], list[int], list[int]] | None = None

    def warm_up(self) -> None:
        super().warm_up()
        if self._wrap is None:
            assert self._encoder is not None
            tokenizer = self._encoder.tokenizer
            lead, trail = special_wrap(tokenizer)
            prefix = tokenizer(self.passage_prefix, add_special_tokens=False)["input_ids"]
            self._wrap = (lead, list(prefix), trail)
            self.capacity()  # fail now when the window cannot hold the overlap

    def capacity(self) -> int:
        """Document tokens per model pass: the window less special and prefix tokens."""
        lead, prefix, trail = self._wrap or ([], [], [])
        limit = self.encoder.max_length
        window = min(self.window_size or self.max_length or limit, limit)
        capacity = window - len(lead) - len(prefix) - len(trail)
        if capacity <= self.window_overlap:
            raise ComponentConfigError(
                Problem(
                    f"late_chunking_encoder: a window of {window} tokens leaves {capacity} for "
                    f"the document, not more than window_overlap ({self.window_overlap})",
                    field="window_overlap",
                )
            )
        return capacity

    def _batch_tokens(self) -> int:
        """Padded tokens per batch: small on CPU (attention stays in cache), large on GPU."""
        if self.batch_tokens is not None:
            return self.batch_tokens
        return CPU_BATCH_TOKENS if self.encoder.device == "cpu" else GPU_BATCH_TOKENS

    @output_types(chunks=list[Chunk])
    def run(self, chunks: list[Chunk], documents: list[Document] | None = None) -> dict[str, Any]:
        vectors = self.embed(chunks, documents)
        return {"chunks": [replace(c, embedding=v) for c, v in zip(chunks, vectors, strict=True)]}

    def embed(self, chunks: list[Chunk], documents: list[Document] | None = None) -> np.ndarray:
        """The late (or blended) embedding of every chunk, rows in input order."""
        self.warm_up()
        late, missing = self._late(chunks, self._texts(chunks, documents))
        if self.late_weight < 1.0:
            naive = self._encode([c.text for c in chunks], prefix=self.passage_prefix)
            late[missing] = naive[missing]
            mixed = self.late_weight * late + (1.0 - self.late_weight) * naive
            return np.asarray(finish(_tensor(mixed), self.normalize, None).numpy())
        if missing:  # chunks without a token of their own (e.g. only marks the tokenizer drops)
            late[missing] = self._encode(
                [chunks[i].text for i in missing], prefix=self.passage_prefix
            )
        return late

    def _texts(self, chunks: list[Chunk], documents: list[Document] | None) -> dict[str, str]:
        """Each chunked document's text: from `documents` when given, else from the chunks."""
        by_doc: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            by_doc.setdefault(chunk.doc_id, []).append(chunk)
        if documents is None:
            return {doc_id: reassemble(group) for doc_id, group in by_doc.items()}
        known = {doc.id: doc.text for doc in documents}
        texts = {}
        for doc_id, group in by_doc.items():
            if doc_id not in known:
                raise ValueError(f"chunks of document {doc_id!r} but no such document given")
            text = known[doc_id]
            if any(text[c.start : c.end] != c.text for c in group):
                raise ValueError(f"chunks of document {doc_id!r} do not match its text")
            texts[doc_id] = text
        return texts

    def _late(self, chunks: list[Chunk], texts: dict[str, str]) -> tuple[np.ndarray, list[int]]:
        """Late-pooled embeddings, and the rows of chunks that hold no token (left zero)."""
        import torch

        lead, prefix, trail = self._wrap or ([], [], [])
        rows_of: dict[str, list[int]] = {}
        for row, chunk in enumerate(chunks):
            rows_of.setdefault(chunk.doc_id, []).append(row)
        doc_ids = list(rows_of)
        encoded = self.encoder.tokenizer(
            [texts[d] for d in doc_ids],
            add_special_tokens=False,
            return_offsets_mapping=True,
            verbose=False,
        )
        capacity = self.capacity()
        sequences: list[list[int]] = []
        plan: list[tuple[int, Window]] = []
        spans: list[list[tuple[int, int]]] = []
        for n, doc_id in enumerate(doc_ids):
            ids = encoded["input_ids"][n]
            offsets = encoded["offset_mapping"][n]
            spans.append(chunk_token_spans(offsets, [chunks[r] for r in rows_of[doc_id]]))
            for window in plan_windows(len(ids), capacity, self.window_overlap):
                sequences.append([*lead, *prefix, *ids[window.begin : window.end], *trail])
                plan.append((n, window))
        dim = self.encoder.dimension
        sums = torch.zeros((len(chunks), dim), dtype=torch.float32, device=self.encoder.device)
        counts = torch.zeros(len(chunks), dtype=torch.float32, device=self.encoder.device)
        skip = len(lead) + len(prefix)
        total = sum(len(s) for s in sequences)
        with progress_bar(total=total, desc="late encoding", unit="token") as bar:
            for i, states in self.encoder.token_states(
                sequences, self.batch_size, self._batch_tokens()
            ):
                n, window = plan[i]
                content = states[skip : skip + window.end - window.begin]
                add_span_sums(content, window, spans[n], rows_of[doc_ids[n]], sums, counts)
                bar.update(len(sequences[i]))
        missing = [int(r) for r in torch.nonzero(counts == 0).flatten()]
        pooled = sums / counts.clamp(min=1.0).unsqueeze(-1)
        out = finish(pooled, self.normalize, self.truncate_dim).cpu().numpy()
        out[missing] = 0.0
        return out, missing
