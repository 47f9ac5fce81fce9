"""The model-free hashing encoders: the hash scheme by hand, determinism, validation, manifest."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ragloom.chunking.hashing import HashingEncoder, HashingQueryEncoder, hash_embed
from ragloom.config import config_from_dict, load_config
from ragloom.errors import ComponentConfigError, ConfigError, PipelineValidationError
from ragloom.indexing.shape import IndexingShape
from ragloom.manifest import check_encoder
from ragloom.registry import get_component_class
from ragloom.types import Chunk

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hashing-dense.yaml"
TEXTS = [
    "BM25 scores a document by the query terms it contains.",
    "Chroma stores dense vectors on disk; Ray Data maps batches over an actor pool.",
    "Late chunking embeds the whole document once, then pools token embeddings.",
    "Ünïcode wörds and CJK 検索 count as words too.",
]


def _word(word: str, dimension: int) -> tuple[int, float]:
    """(bucket, sign) of one word, computed straight from BLAKE2b as the module documents."""
    value = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    return value % dimension, -1.0 if value >> 63 else 1.0


def test_one_word_is_its_signed_bucket() -> None:
    bucket, sign = _word("chroma", 384)
    expected = np.zeros(384, dtype=np.float32)
    expected[bucket] = sign
    np.testing.assert_array_equal(hash_embed(["Chroma!"], 384)[0], expected)


def test_counts_add_up_per_bucket_then_normalise() -> None:
    words = ["ray", "data", "ray"]
    raw = np.zeros(64)
    for word in words:
        bucket, sign = _word(word, 64)
        raw[bucket] += sign
    expected = (raw / np.linalg.norm(raw)).astype(np.float32)
    np.testing.assert_allclose(hash_embed(["Ray, data; RAY."], 64)[0], expected, rtol=1e-6)


def test_rows_are_unit_float32_of_the_dimension() -> None:
    for ngram in (1, 2):
        vectors = HashingEncoder(dimension=100, ngram=ngram).embed(TEXTS)
        assert vectors.shape == (len(TEXTS), 100) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_a_text_without_words_gets_the_fixed_unit_vector() -> None:
    uniform = np.full(16, 0.25, dtype=np.float32)
    for text in ("", "   ", "?!... --"):
        np.testing.assert_array_equal(hash_embed([text], 16)[0], uniform)
    # With one bucket, two words of opposite sign cancel exactly: the same fixed vector.
    plus = next(w for w in ("a", "b", "c", "d", "e", "f") if _word(w, 1)[1] > 0)
    minus = next(w for w in ("a", "b", "c", "d", "e", "f") if _word(w, 1)[1] < 0)
    np.testing.assert_array_equal(hash_embed([f"{plus} {minus}"], 1)[0], [1.0])


def test_batches_and_instances_agree() -> None:
    one = HashingEncoder(batch_size=1).embed(TEXTS)
    np.testing.assert_array_equal(one, HashingEncoder(batch_size=3).embed(TEXTS))
    np.testing.assert_array_equal(one[2], HashingQueryEncoder().embed([TEXTS[2]])[0])
    assert HashingEncoder().embed([]).shape == (0, 384)


def test_bigrams_follow_word_order_and_stay_inside_a_text() -> None:
    assert np.array_equal(hash_embed(["ray data"], 64), hash_embed(["data ray"], 64))
    assert not np.array_equal(hash_embed(["ray data"], 64, 2), hash_embed(["data ray"], 64, 2))
    together = hash_embed(["ray", "data"], 64, 2)
    alone = np.vstack([hash_embed(["ray"], 64, 2), hash_embed(["data"], 64, 2)])
    np.testing.assert_array_equal(together, alone)


_PROBE = (
    "import json, sys; from ragloom.chunking.hashing import hash_embed; "
    "print(json.dumps(hash_embed(json.loads(sys.argv[1]), 64, 2).tolist()))"
)


def test_same_vectors_in_another_process_with_another_hash_seed() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    theirs = np.array(json.loads(proc.stdout), dtype=np.float32)
    np.testing.assert_array_equal(theirs, hash_embed(TEXTS, 64, 2))


def test_the_hash_scheme_is_frozen() -> None:
    """Indexes built elsewhere stay valid: any change here needs a new manifest model name."""
    vectors = hash_embed(TEXTS, 64, 2).astype("<f4")
    digest = hashlib.sha256(vectors.tobytes()).hexdigest()[:16]
    assert digest == "fccae0ac3f50a785"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)  # rows are unit vectors


def test_a_query_is_closer_to_the_passage_with_its_words() -> None:
    query = np.array(
        HashingQueryEncoder().run("which document terms does BM25 score?")["embedding"]
    )
    passages = HashingEncoder().embed(TEXTS[:2])
    assert _cosine(query, passages[0]) > _cosine(query, passages[1])
    assert _cosine(query, passages[0]) > 0.3


def test_the_chunk_stage_fills_embeddings_and_keeps_spans() -> None:
    chunks = [Chunk(doc_id="d", text=t, start=0, end=len(t)) for t in TEXTS]
    out = HashingEncoder(dimension=32).run(chunks)["chunks"]
    assert [(c.id, c.text) for c in out] == [(c.id, c.text) for c in chunks]
    assert all(c.embedding is None for c in chunks)
    np.testing.assert_array_equal(np.stack([c.embedding for c in out]), hash_embed(TEXTS, 32))


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"dimension": 0}, "dimension", "greater than 0"),
        ({"ngram": 3}, "ngram", "1 or 2"),
        ({"batch_size": -1}, "batch_size", "greater than 0"),
        ({"dimensions": 8}, "dimensions", "did you mean 'dimension'"),
    ],
)
def test_bad_parameters_name_the_stage_and_field(params: dict, field: str, words: str) -> None:
    for cls in (HashingEncoder, HashingQueryEncoder):
        with pytest.raises(ComponentConfigError) as info:
            cls.from_dict({"init_parameters": params})
        message = str(info.value)
        assert cls.label() in message and repr(field) in message and words in message
        assert info.value.problems[0].field == field


def test_registered_and_round_trips_through_yaml() -> None:
    assert get_component_class("hashing_encoder") is HashingEncoder
    assert get_component_class("hashing_query_encoder") is HashingQueryEncoder
    stage = HashingEncoder(dimension=96, ngram=2)
    envelope = yaml.safe_load(yaml.safe_dump(stage.to_dict()))
    assert envelope == {
        "type": "hashing_encoder",
        "init_parameters": {"dimension": 96, "ngram": 2, "batch_size": 256},
    }
    again = get_component_class(envelope["type"]).from_dict(envelope)
    assert again.to_dict() == stage.to_dict()
    np.testing.assert_array_equal(again.embed(TEXTS), stage.embed(TEXTS))


def test_the_manifest_records_the_hashing_settings() -> None:
    config = load_config(EXAMPLE)
    assert config.encoder_settings() == {"model": "hashing", "dimension": 384, "ngram": 1}
    built_elsewhere = {"encoder": {"model": "hashing", "dimension": 256, "ngram": 1}}
    with pytest.raises(ConfigError, match="dimension"):
        check_encoder(Path("idx"), built_elsewhere, config.encoder_settings())


def _example_with_query_encoder(text: str) -> dict:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["query"]["components"]["query_encoder"] = yaml.safe_load(text)
    return data


def test_a_query_encoder_unlike_the_index_is_refused() -> None:
    differs = "{type: hashing_query_encoder, init_parameters: {dimension: 384, ngram: 2}}"
    with pytest.raises(PipelineValidationError, match="ngram=2 but the index is encoded with"):
        config_from_dict(_example_with_query_encoder(differs))
    model = "{type: query_encoder, init_parameters: {model: minilm}}"
    with pytest.raises(PipelineValidationError, match="is a query_encoder but the index is"):
        config_from_dict(_example_with_query_encoder(model))


def test_ray_data_indexing_takes_it_as_the_encoder() -> None:
    shape = IndexingShape.of(load_config(EXAMPLE).indexing)
    assert shape is not None
    stages, why = shape.ray_data_stages()
    assert stages is not None, why
    assert (stages.chunker, stages.encoder, stages.writers) == (
        "chunker",
        "encoder",
        (("writer", True),),
    )
