"""benchmarks/index_flops.py counts, from the tokenizer alone, exactly the sequence widths the
real `late_chunking_encoder` feeds its model when indexing (its FLOPs rest on that)."""

from __future__ import annotations

from typing import Any

import torch

from benchmarks.index_flops import index_widths, late_chunking_parts
from ragloom.chunking.late import LateChunkingEncoder
from ragloom.chunking.sentences import SentenceChunker
from ragloom.pipeline.graph import Pipeline
from ragloom.types import Document

SENTENCE = "Late chunking pools token states over a whole document before it embeds a chunk. "
DOCUMENTS = [
    Document(id="long", text=SENTENCE * 60),  # over 512 tokens: several macro-windows
    Document(id="short", text="BM25 ranks by term frequency. Fusion merges two lists."),
    Document(id="mid", text=SENTENCE * 7),
]


def late_pipeline() -> Pipeline:
    """examples/hybrid.yaml's dense indexing: one-sentence chunks, late chunking at weight 0.6."""
    pipeline = Pipeline()
    pipeline.add("chunker", SentenceChunker(sentences_per_chunk=1))
    pipeline.add("encoder", LateChunkingEncoder(model="minilm", device="cpu", late_weight=0.6))
    pipeline.connect("chunker.chunks", "encoder.chunks")
    return pipeline


def test_counted_widths_are_the_widths_the_stage_runs() -> None:
    pipeline = late_pipeline()
    _, counted = index_widths(pipeline, DOCUMENTS, batch=2)
    stage, chunker = late_chunking_parts(pipeline)
    stage.warm_up()
    ran: list[int] = []

    def record(batch: dict[str, Any]) -> Any:
        rows, width = batch["input_ids"].shape
        ran.extend([int(width)] * int(rows))
        return torch.zeros(rows, width, stage.encoder.dimension)

    stage.encoder.runner, runner = record, stage.encoder.runner
    try:
        for begin in range(0, len(DOCUMENTS), 2):
            stage.embed(chunker.run(documents=DOCUMENTS[begin : begin + 2])["chunks"])
    finally:
        stage.encoder.runner = runner
    assert max(ran) == 512 and sorted(counted) == sorted(ran)
