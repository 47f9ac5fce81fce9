"""The token widths a late-chunking `ragloom index` runs through its encoder, from the tokenizer
alone (no model runs), for `roofline.model_flops`.

examples/hybrid.yaml indexes dense vectors with `late_chunking_encoder` over one-sentence
chunks. The indexing runner hands the stage the chunks of one batch of documents at a time
(`DEFAULT_BATCH_SIZE`, 128; it doubles only after a batch written in under half a second, which
a model-encoding pipeline never is), and the stage, as `chunking/late.py` does it:

1. tokenizes each document's text (rebuilt from its chunks) without special tokens, cuts it into
   macro-windows of `capacity()` tokens overlapping by `window_overlap` (`plan_windows`) and
   wraps each in the special and prefix tokens;
2. runs the windows longest first in padded batches of at most `batch_size` windows and
   `batch_tokens` padded tokens (`length_batches`);
3. with `late_weight` < 1, also encodes every chunk alone (`TextEncoder.encode`: `batches`
   groups texts by character length, `batch_size` at a time, each padded to its longest).

Chunks without a token of their own, encoded again alone when `late_weight` is 1, are left out.

    config, widths = index_widths(config.indexing, documents)
    flops = model_flops(config, widths)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragloom.chunking.base import Chunker
from ragloom.chunking.late import (
    CPU_BATCH_TOKENS,
    GPU_BATCH_TOKENS,
    LateChunkingEncoder,
    reassemble,
)
from ragloom.chunking.pooling import plan_windows, special_wrap
from ragloom.devices import pick_device
from ragloom.indexing.runner import DEFAULT_BATCH_SIZE
from ragloom.pipeline.graph import Pipeline
from ragloom.pretrained import MAX_ENCODER_TOKENS, length_batches
from ragloom.types import Chunk, Document


def window_lengths(tokens: int, capacity: int, overlap: int, wrap: int) -> list[int]:
    """Sequence lengths of a `tokens`-token document's macro-windows, `wrap` special and
    prefix tokens included."""
    return [w.end - w.begin + wrap for w in plan_windows(tokens, capacity, overlap)]


def padded_widths(
    keys: Sequence[int], widths: Sequence[int], batch_size: int, batch_tokens: int | None = None
) -> list[int]:
    """Each row's padded width, in input order, when rows are grouped longest `keys` first by
    `length_batches` and every group is padded to its widest row."""
    out = [0] * len(keys)
    for group in length_batches(keys, batch_size, batch_tokens):
        width = max(widths[i] for i in group)
        for i in group:
            out[i] = width
    return out


def late_chunking_parts(pipeline: Pipeline) -> tuple[LateChunkingEncoder, Chunker]:
    """The indexing pipeline's late-chunking encoder and the chunker feeding its `chunks`."""
    for name, stage in pipeline.components.items():
        if isinstance(stage, LateChunkingEncoder):
            for conn in pipeline.connections:
                sender = pipeline.components[conn.sender.component]
                if conn.receiver.component == name and isinstance(sender, Chunker):
                    return stage, sender
    raise ValueError("the indexing pipeline has no late_chunking_encoder fed by a chunker")


def late_widths(
    stage: LateChunkingEncoder, chunks: list[Chunk], tokenizer: Any, limit: int
) -> list[int]:
    """Padded widths of the macro-windows `stage` runs for one call on `chunks`."""
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk.doc_id, []).append(chunk)
    texts = [reassemble(group) for group in by_doc.values()]
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    lead, trail = special_wrap(tokenizer)
    prefix = tokenizer(stage.passage_prefix, add_special_tokens=False)["input_ids"]
    wrap = len(lead) + len(prefix) + len(trail)
    capacity = min(stage.window_size or stage.max_length or limit, limit) - wrap
    lengths = [
        n for row in ids for n in window_lengths(len(row), capacity, stage.window_overlap, wrap)
    ]
    return padded_widths(lengths, lengths, stage.batch_size, batch_tokens(stage))


def batch_tokens(stage: LateChunkingEncoder) -> int:
    """The stage's padded tokens per batch: its setting, else the CPU or GPU default."""
    if stage.batch_tokens is not None:
        return stage.batch_tokens
    device = pick_device(stage.device) if stage.backend == "torch" else "cpu"
    return CPU_BATCH_TOKENS if device == "cpu" else GPU_BATCH_TOKENS


def naive_widths(
    stage: LateChunkingEncoder, chunks: list[Chunk], tokenizer: Any, limit: int
) -> list[int]:
    """Padded widths of the batches that encode every chunk alone (`late_weight` < 1)."""
    texts = [stage.passage_prefix + chunk.text for chunk in chunks]
    cap = min(stage.max_length or limit, limit)
    ids = tokenizer(texts, verbose=False)["input_ids"]
    return padded_widths(
        [len(t) for t in texts], [min(len(row), cap) for row in ids], stage.batch_size
    )


def index_widths(
    pipeline: Pipeline, documents: list[Document], batch: int = DEFAULT_BATCH_SIZE
) -> tuple[Any, list[int]]:
    """(the encoder's model config, the padded width of every sequence it runs) when
    `pipeline` indexes `documents`, `batch` documents per call of its late-chunking stage."""
    import torch
    import transformers

    from ragloom.models import load_pretrained

    stage, chunker = late_chunking_parts(pipeline)
    chunker.warm_up()
    tokenizer, config = load_pretrained(stage.model, transformers.AutoConfig, torch.float32)
    limit = min(
        int(getattr(config, "max_position_embeddings", MAX_ENCODER_TOKENS)), MAX_ENCODER_TOKENS
    )
    widths: list[int] = []
    for begin in range(0, len(documents), batch):
        chunks = chunker.run(documents=documents[begin : begin + batch])["chunks"]
        widths += late_widths(stage, chunks, tokenizer, limit)
        if stage.late_weight < 1.0:
            widths += naive_widths(stage, chunks, tokenizer, limit)
    return config, widths
