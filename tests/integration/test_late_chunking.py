"""Late chunking with the real bundled MiniLM: equal to hand-computed pooled token states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ragloom.chunking.encoders import ChunkEncoder, QueryEncoder
from ragloom.chunking.late import LateChunkingEncoder
from ragloom.chunking.pooling import plan_windows
from ragloom.chunking.text_encoder import load_encoder
from ragloom.chunking.token_window import TokenWindowChunker
from ragloom.types import Chunk, Document

TEXT = (
    "Late chunking encodes the whole document once. Then it pools the token states of each "
    "chunk, so a chunk that says 'it' still knows what 'it' is. Naive chunking embeds every "
    "chunk alone. Café, naïve and 東京 are tokenized too; emoji 🎉 become unknown tokens."
)


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _vectors(chunks: list[Chunk]) -> np.ndarray:
    return np.stack([c.embedding for c in chunks])


def _hand_late(text: str, chunks: list[Chunk], prefix: str = "") -> np.ndarray:
    """One forward pass over prefix + text; mean of the text tokens each chunk's span touches."""
    encoder = load_encoder("minilm")
    batch = encoder.tokenizer(prefix + text, return_offsets_mapping=True, return_tensors="pt")
    offsets = batch.pop("offset_mapping")[0].tolist()
    with torch.inference_mode():
        states = encoder.model(**batch).last_hidden_state[0].numpy()
    rows = []
    for chunk in chunks:
        start, end = chunk.start + len(prefix), chunk.end + len(prefix)
        inside = [
            i
            for i, (s, e) in enumerate(offsets)
            if e > s and s >= len(prefix) and s < end and e > start
        ]
        rows.append(states[inside].mean(axis=0))
    return _normalise(np.stack(rows))


def _chunks(text: str, size: int = 12) -> tuple[Document, list[Chunk]]:
    doc = Document(text=text, id="doc")
    return doc, TokenWindowChunker(chunk_size=size, overlap=0).chunk(doc)


@pytest.mark.parametrize(
    "encoder",
    [LateChunkingEncoder(), LateChunkingEncoder(window_size=160, window_overlap=32, batch_size=2)],
    ids=["model-window", "long-late-one-window"],
)
def test_late_chunking_equals_hand_pooled_token_states(encoder: LateChunkingEncoder) -> None:
    doc, chunks = _chunks(TEXT)
    assert len(chunks) > 3
    got = _vectors(encoder.run(chunks=chunks, documents=[doc])["chunks"])
    np.testing.assert_allclose(got, _hand_late(TEXT, chunks), atol=2e-5)


def test_passage_prefix_is_encoded_but_not_pooled() -> None:
    _, chunks = _chunks(TEXT)
    encoder = LateChunkingEncoder(passage_prefix="passage: ", query_prefix="query: ")
    got = _vectors(encoder.run(chunks=chunks)["chunks"])
    np.testing.assert_allclose(got, _hand_late(TEXT, chunks, "passage: "), atol=2e-5)
    query = QueryEncoder(passage_prefix="passage: ", query_prefix="query: ").run(query="what?")
    plain = load_encoder("minilm").encode(["query: what?"])[0]
    np.testing.assert_allclose(query["embedding"], plain, atol=1e-6)


def test_long_documents_take_each_token_from_its_planned_window() -> None:
    text = " ".join([TEXT] * 4)
    doc, chunks = _chunks(text, size=20)
    encoder = LateChunkingEncoder(window_size=64, window_overlap=16, batch_size=3)
    got = _vectors(encoder.run(chunks=chunks, documents=[doc])["chunks"])
    tokenizer, model = load_encoder("minilm").tokenizer, load_encoder("minilm").model
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    states = np.zeros((len(ids), 384), dtype=np.float32)
    for w in plan_windows(len(ids), 62, 16):  # 64 less [CLS] and [SEP]
        seq = torch.tensor([[101, *ids[w.begin : w.end], 102]])
        with torch.inference_mode():
            out = model(input_ids=seq).last_hidden_state[0, 1:-1].numpy()
        states[w.keep : w.end] = out[w.keep - w.begin :]
    expected = []
    for c in chunks:
        inside = [i for i, (s, e) in enumerate(offsets) if s < c.end and e > c.start]
        expected.append(states[inside].mean(axis=0))
    assert len(plan_windows(len(ids), 62, 16)) > 3
    np.testing.assert_allclose(got, _normalise(np.stack(expected)), atol=2e-5)


def test_blend_mixes_late_and_naive_embeddings_per_chunk() -> None:
    _, chunks = _chunks(TEXT)
    late = _vectors(LateChunkingEncoder().run(chunks=chunks)["chunks"])
    naive = _vectors(ChunkEncoder().run(chunks=chunks)["chunks"])
    blend = _vectors(LateChunkingEncoder(late_weight=0.25).run(chunks=chunks)["chunks"])
    np.testing.assert_allclose(blend, _normalise(0.25 * late + 0.75 * naive), atol=1e-5)


def test_matryoshka_truncation_and_tokenless_chunks() -> None:
    doc = Document(text="Hello world.\u200b\u200b", id="z")
    chunks = [Chunk.from_span(doc, 0, 12, 0), Chunk.from_span(doc, 12, 14, 1)]
    full = _vectors(LateChunkingEncoder().run(chunks=chunks)["chunks"])
    naive = _vectors(ChunkEncoder().run(chunks=chunks[1:])["chunks"])
    np.testing.assert_allclose(full[1], naive[0], atol=1e-6)  # no token of its own: naive
    short = _vectors(LateChunkingEncoder(truncate_dim=64).run(chunks=chunks)["chunks"])
    assert short.shape == (2, 64)
    np.testing.assert_allclose(short[0], _normalise(full[0, :64]), atol=1e-5)


def test_a_20k_token_document_gets_an_embedding_for_every_chunk() -> None:
    words = [f"w{i % 97} alpha{i % 13} beta" for i in range(3800)]
    doc = Document(text=" ".join(words) + ".", id="long")
    chunks = TokenWindowChunker(chunk_size=256, overlap=0).chunk(doc)
    tokens = load_encoder("minilm").tokenizer(doc.text, add_special_tokens=False, verbose=False)
    assert len(tokens["input_ids"]) >= 20_000
    encoder = LateChunkingEncoder(
        window_overlap=32,
        batch_size=8,
    )
    vectors = _vectors(encoder.run(chunks=chunks)["chunks"])
    assert vectors.shape == (len(chunks), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
