"""Chunk and query encoders against a hand-written transformers computation (bundled MiniLM)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from ragloom.chunking.encoders import ChunkEncoder, QueryEncoder
from ragloom.chunking.text_encoder import load_encoder
from ragloom.models import resolve_model_path
from ragloom.types import Chunk, Document

TEXTS = [
    "Late chunking encodes the whole document once and pools each chunk.",
    "BM25",
    "Reciprocal rank fusion merges the rankings of several retrievers into one list, "
    "rewarding documents that several of them place near the top.",
    "Ray actors load the model once and then serve many batches.",
    "Café naïve résumé: 日本語のテキスト 😀",
    "",
]


@pytest.fixture(scope="module")
def reference() -> tuple[Any, Any]:
    """Tokenizer and model loaded directly with transformers, independently of ragloom."""
    path = resolve_model_path("minilm")
    model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    return AutoTokenizer.from_pretrained(path), model


def _by_hand(reference: tuple[Any, Any], texts: list[str]) -> np.ndarray:
    tokenizer, model = reference
    rows = []
    with torch.inference_mode():
        for text in texts:  # one at a time: no padding involved at all
            batch = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
            hidden = model(**batch).last_hidden_state[0]
            mask = batch["attention_mask"][0].bool()
            mean = hidden[mask].mean(dim=0)
            rows.append((mean / mean.norm()).numpy())
    return np.stack(rows)


def _chunks(texts: list[str]) -> list[Chunk]:
    chunks = []
    for n, text in enumerate(texts):
        doc = Document(text=text, id=f"t{n}")
        chunks.append(Chunk.from_span(doc, 0, len(text), 0))
    return chunks


def _encode(texts: list[str], **params: Any) -> np.ndarray:
    out = ChunkEncoder(**params).run(chunks=_chunks(texts))["chunks"]
    return np.stack([c.embedding for c in out])


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    """TEXTS encoded once with the default settings (fp32, mean pooling, normalised)."""
    return _encode(TEXTS, device="cpu")


def test_chunk_embeddings_equal_a_hand_computation(
    reference: tuple[Any, Any], rows: np.ndarray
) -> None:
    assert rows.shape == (len(TEXTS), 384)
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, _by_hand(reference, TEXTS), atol=1e-5)


def test_chunk_encoder_keeps_chunks_and_adds_embeddings() -> None:
    chunks = _chunks(TEXTS[:3])
    out = ChunkEncoder(device="cpu").run(chunks=chunks)["chunks"]
    assert out == chunks  # same ids, spans, texts, metadata (embedding is not compared)
    assert all(c.embedding is None for c in chunks)
    assert all(c.embedding is not None and c.embedding.shape == (384,) for c in out)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_rows_come_back_in_input_order_for_any_batch_size(
    batch_size: int, rows: np.ndarray
) -> None:
    order = [3, 0, 5, 2, 4, 1]
    got = _encode([TEXTS[i] for i in order], device="cpu", batch_size=batch_size)
    np.testing.assert_allclose(got, rows[order], atol=1e-5)


def test_normalized_rows_have_unit_norm_and_unnormalized_do_not(rows: np.ndarray) -> None:
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    raw = _encode(TEXTS, device="cpu", normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), rows, atol=1e-5)


def test_cls_pooling_differs_from_mean_pooling(rows: np.ndarray) -> None:
    cls = _encode(TEXTS[:4], device="cpu", pooling="cls")
    np.testing.assert_allclose(np.linalg.norm(cls, axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(rows[:4] * cls, axis=1) < 0.99)


def test_bfloat16_is_close_to_float32(rows: np.ndarray) -> None:
    fp32 = rows
    bf16 = _encode(TEXTS, device="cpu", dtype="bfloat16")
    assert bf16.dtype == np.float32
    cosines = np.sum(fp32 * bf16, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cosines.min() >= 0.99


def test_query_encoder_returns_384_floats_like_the_chunk_encoder() -> None:
    query = "How does late chunking embed a chunk?"
    embedding = QueryEncoder(device="cpu").run(query=query)["embedding"]
    assert isinstance(embedding, list) and len(embedding) == 384
    assert all(isinstance(x, float) for x in embedding)
    np.testing.assert_allclose(embedding, _encode([query], device="cpu")[0], atol=1e-6)


def test_long_text_is_truncated_without_error(reference: tuple[Any, Any]) -> None:
    long_text = ("Chunk encoders truncate long inputs to the model limit. " * 400)[:20_000]
    assert len(long_text) == 20_000
    got = _encode([long_text], device="cpu")
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[0], _by_hand(reference, [long_text])[0], atol=1e-5)
    shorter = _encode([long_text], device="cpu", max_length=64)[0]
    assert not np.allclose(shorter, got[0], atol=1e-3)


def test_encoder_stages_share_one_loaded_model() -> None:
    chunk_stage, query_stage = ChunkEncoder(device="cpu"), QueryEncoder(device="cpu")
    chunk_stage.warm_up()
    query_stage.warm_up()
    assert chunk_stage.encoder is query_stage.encoder is load_encoder("minilm", "cpu", "float32")


def test_encoder_output_is_independent_of_a_previous_embedding() -> None:
    chunk = replace(_chunks(TEXTS[:1])[0], embedding=np.zeros(384, dtype=np.float32))
    (out,) = ChunkEncoder(device="cpu").run(chunks=[chunk])["chunks"]
    np.testing.assert_allclose(out.embedding, _encode(TEXTS[:1], device="cpu")[0], atol=1e-6)


def test_a_repeated_question_is_answered_from_the_cache_with_the_same_vector() -> None:
    stage = QueryEncoder(device="cpu", cache_size=2)
    first = stage.run(query="what is late chunking?")["embedding"]
    again = stage.run(query="what is late chunking?")["embedding"]
    assert again == first and again is not first
    assert (stage.cache.hits, stage.cache.misses) == (1, 1)
    batch = stage.run_batch([{"query": q} for q in ("x", "what is late chunking?", "x")])
    assert batch[1]["embedding"] == first and batch[0]["embedding"] == batch[2]["embedding"]
    uncached = QueryEncoder(device="cpu", cache_size=0)
    assert np.allclose(uncached.run(query="x")["embedding"], batch[0]["embedding"], atol=1e-6)
    assert len(uncached.cache) == 0
