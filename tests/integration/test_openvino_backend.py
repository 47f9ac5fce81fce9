"""The openvino backend against torch: bundled MiniLM embeddings and token states on padded
batches of very different lengths (float32 asked for: the same vectors; `auto`, bfloat16 where
the CPU has it: close), the late-chunking stage, a trained cross-encoder's scores, a YAML
pipeline, and bad settings refused at load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragloom import Pipeline
from ragloom.chunking.late import LateChunkingEncoder
from ragloom.chunking.text_encoder import TextEncoder, load_encoder
from ragloom.errors import ConfigError
from ragloom.rag import RAG
from ragloom.rerank.cross_encoder import CrossEncoder
from tests.integration.conftest import CORPUS, ROOT
from tests.integration.test_onnx_backend import (
    LATE_PARAMS,
    QUERY,
    TEXTS,
    _cosines,
    late_chunking_case,
)

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def torch_encoder() -> TextEncoder:
    return load_encoder("minilm", device="cpu")


@pytest.mark.parametrize("batch_size", [3, len(TEXTS)], ids=["mixed-batches", "one-batch"])
def test_float32_embeddings_match_torch(torch_encoder: TextEncoder, batch_size: int) -> None:
    openvino = TextEncoder.shared("minilm", backend="openvino", dtype="float32")
    expected = torch_encoder.encode(TEXTS, batch_size=batch_size)
    got = openvino.encode(TEXTS, batch_size=batch_size)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert _cosines(got, expected).min() >= 0.9999


def test_auto_precision_stays_close_and_is_its_own_copy(torch_encoder: TextEncoder) -> None:
    auto = load_encoder("minilm", backend="openvino")
    assert auto is not TextEncoder.shared("minilm", backend="openvino", dtype="float32")
    # bfloat16 on CPUs with it: measured min 0.9999 on SciFact sentences (benchmarks/README.md)
    assert _cosines(auto.encode(TEXTS, batch_size=3), torch_encoder.encode(TEXTS)).min() >= 0.995


def test_token_states_and_late_chunking_match_torch(torch_encoder: TextEncoder) -> None:
    openvino = TextEncoder.shared("minilm", backend="openvino", dtype="float32")
    ids = torch_encoder.tokenizer(TEXTS, truncation=True, max_length=512)["input_ids"]
    expected = dict(torch_encoder.token_states(ids, batch_size=4))
    got = dict(openvino.token_states(ids, batch_size=4))
    for i, states in got.items():
        assert states.shape == expected[i].shape
        assert _cosines(states.numpy(), expected[i].numpy()).min() >= 0.9999

    chunks, doc = late_chunking_case()
    want = LateChunkingEncoder(**LATE_PARAMS).embed(chunks, [doc])
    openvino_stage = LateChunkingEncoder(backend="openvino", dtype="float32", **LATE_PARAMS)
    have = openvino_stage.embed(chunks, [doc])
    assert _cosines(have, want).min() >= 0.9999


def test_cross_encoder_scores_match_torch(
    tiny_reranker: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGLOOM_CACHE", str(tmp_path / "cache"))
    passages = [t for t in TEXTS if t]
    expected = CrossEncoder(str(tiny_reranker)).score(QUERY, passages, batch_size=3)
    got = CrossEncoder(str(tiny_reranker), backend="openvino", dtype="float32")
    assert np.allclose(got.score(QUERY, passages, batch_size=3), expected, atol=1e-3)


def test_yaml_pipeline_on_openvino_answers_like_torch(tmp_path: Path) -> None:
    config = (ROOT / "examples" / "hybrid.yaml").read_text(encoding="utf-8")
    config = config.replace("late_weight: 0.6}", "late_weight: 0.6, backend: openvino}")
    config = config.replace("{model: minilm}", "{model: minilm, backend: openvino}")
    assert config.count("backend: openvino") == 2
    path = tmp_path / "hybrid-openvino.yaml"
    path.write_text(config, encoding="utf-8")
    ours = RAG.from_file(path, index_dir=tmp_path / "openvino")
    theirs = RAG.from_file(ROOT / "examples" / "hybrid.yaml", index_dir=tmp_path / "torch")
    for rag in (ours, theirs):
        rag.index([CORPUS])
    question = "What is reciprocal rank fusion?"
    assert [h.chunk.doc_id for h in ours.query(question).hits][:3] == [
        h.chunk.doc_id for h in theirs.query(question).hits
    ][:3]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ("backend: openvino, quantize: int8", "quantize", "needs backend: onnx"),
        ("backend: openvino, dtype: float16", "dtype", "not an openvino precision"),
        ("backend: openvino, device: cuda", "device", "runs on the CPU"),
    ],
)
def test_bad_openvino_settings_are_refused(params: str, field: str, words: str) -> None:
    text = f"""
components:
  encoder:
    type: query_encoder
    init_parameters: {{model: minilm, {params}}}
inputs:
  query: [encoder.query]
"""
    with pytest.raises((ConfigError, ValueError)) as info:
        Pipeline.from_yaml_text(text).warm_up()
    message = str(info.value)
    assert words in message, message
