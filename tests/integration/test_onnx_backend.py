"""The onnx backend against torch: bundled MiniLM embeddings and token states on padded batches of
very different lengths, the late-chunking stage, a trained cross-encoder's scores, int8 close,
the export cached once, a YAML pipeline end to end, and bad settings refused at load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragloom import Pipeline
from ragloom.chunking.encoders import ChunkEncoder
from ragloom.chunking.late import LateChunkingEncoder
from ragloom.chunking.text_encoder import TextEncoder, load_encoder
from ragloom.errors import ConfigError
from ragloom.model_cache import COMPLETE_MARKER
from ragloom.rag import RAG
from ragloom.rerank.cross_encoder import CrossEncoder
from ragloom.rerank.langchain_compressor import CrossEncoderCompressor
from ragloom.rerank.reranker import CrossEncoderReranker
from ragloom.types import Chunk, Document, Hit
from tests.integration.conftest import CORPUS, ROOT

#: From one token to past the 512-token window: padded batches of very different lengths.
TEXTS = [
    "BM25",
    "",
    "Late chunking encodes the whole document once and pools each chunk.",
    "Reciprocal rank fusion merges the rankings of several retrievers into one list. " * 8,
    "Café naïve résumé: 日本語のテキスト 😀",
    "Ray actors load the model once and then serve many batches. " * 60,
    "a b",
    "Chroma stores dense vectors on disk and answers nearest-neighbour queries. " * 3,
]
QUERY = "what is BM25"


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.asarray((a * b).sum(axis=1))


@pytest.fixture(scope="module")
def torch_encoder() -> TextEncoder:
    return load_encoder("minilm", device="cpu")


@pytest.fixture(scope="module")
def onnx_encoder() -> TextEncoder:
    return load_encoder("minilm", backend="onnx")


@pytest.mark.parametrize("batch_size", [3, len(TEXTS)], ids=["mixed-batches", "one-batch"])
@pytest.mark.parametrize(
    "options",
    [{}, {"pooling": "cls"}, {"prefix": "passage: ", "truncate_dim": 128}],
    ids=["mean", "cls", "prefix-matryoshka"],
)
def test_onnx_embeddings_match_torch_on_padded_batches(
    torch_encoder: TextEncoder, onnx_encoder: TextEncoder, batch_size: int, options: dict
) -> None:
    expected = torch_encoder.encode(TEXTS, batch_size=batch_size, **options)
    got = onnx_encoder.encode(TEXTS, batch_size=batch_size, **options)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert _cosines(got, expected).min() >= 0.9999


def test_token_states_match_torch(torch_encoder: TextEncoder, onnx_encoder: TextEncoder) -> None:
    ids = torch_encoder.tokenizer(TEXTS, truncation=True, max_length=512)["input_ids"]
    expected = dict(torch_encoder.token_states(ids, batch_size=4))
    got = dict(onnx_encoder.token_states(ids, batch_size=4))
    assert sorted(got) == list(range(len(TEXTS)))
    for i, states in got.items():
        assert states.shape == expected[i].shape == (len(ids[i]), 384)
        assert _cosines(states.numpy(), expected[i].numpy()).min() >= 0.9999
        assert float((states - expected[i]).abs().max()) < 1e-3


def late_chunking_case() -> tuple[list[Chunk], Document]:
    """TEXTS joined into one document and cut back into its (non-empty) texts as chunks."""
    doc = Document(text=" ".join(TEXTS), id="doc")
    chunks, pos = [], 0
    for n, part in enumerate(TEXTS):
        chunks.append(Chunk(doc_id="doc", text=part, start=pos, end=pos + len(part), id=f"c{n}"))
        pos += len(part) + 1
    return [c for c in chunks if c.text], doc


#: Late-chunking settings small enough that TEXTS span several windows and batches.
LATE_PARAMS = {"window_size": 160, "window_overlap": 32, "batch_size": 2, "late_weight": 0.6}


def test_late_chunking_stage_matches_torch() -> None:
    chunks, doc = late_chunking_case()
    expected = LateChunkingEncoder(**LATE_PARAMS).embed(chunks, [doc])
    got = LateChunkingEncoder(backend="onnx", **LATE_PARAMS).embed(chunks, [doc])
    assert _cosines(got, expected).min() >= 0.9999


def test_int8_stays_close_to_float32(torch_encoder: TextEncoder) -> None:
    int8 = load_encoder("minilm", backend="onnx", quantize="int8")
    assert int8 is not load_encoder("minilm", backend="onnx")  # the shared cache keys on both
    cosines = _cosines(int8.encode(TEXTS, batch_size=3), torch_encoder.encode(TEXTS))
    # Measured here: min 0.972 (the empty text), the rest 0.990-0.996; SciFact sentences min
    # 0.980, mean 0.993 (benchmarks/README.md, "Inference backends").
    assert cosines.min() >= 0.95


def test_stage_output_matches_torch_and_records_the_backend() -> None:
    docs = [Document(text=text, id=f"t{n}") for n, text in enumerate(TEXTS)]
    chunks = [Chunk.from_span(doc, 0, len(doc.text), 0) for doc in docs]
    torch_rows = ChunkEncoder().run(chunks=chunks)["chunks"]
    stage = ChunkEncoder(backend="onnx", batch_size=4)
    onnx_rows = stage.run(chunks=chunks)["chunks"]
    expected = np.stack([c.embedding for c in torch_rows])
    got = np.stack([c.embedding for c in onnx_rows])
    assert _cosines(got, expected).min() >= 0.9999
    assert stage.init_parameters["backend"] == "onnx"
    assert stage.init_parameters["quantize"] == "none"


@pytest.fixture(scope="module")
def reranker_cache(tiny_reranker: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private model cache for the trained reranker, whose export is new every session."""
    return tmp_path_factory.mktemp("onnx-cache")


def test_cross_encoder_scores_match_torch_and_the_export_is_reused(
    tiny_reranker: Path, reranker_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGLOOM_CACHE", str(reranker_cache))
    passages = [t for t in TEXTS if t]
    expected = CrossEncoder(str(tiny_reranker)).score(QUERY, passages, batch_size=3)
    first = CrossEncoder(str(tiny_reranker), backend="onnx")
    assert np.allclose(first.score(QUERY, passages, batch_size=3), expected, atol=1e-4)
    assert np.allclose(first.score(QUERY, passages, batch_size=len(passages)), expected, atol=1e-4)

    entries = sorted((reranker_cache / "models").iterdir())
    assert [e.name.startswith("onnx-") for e in entries] == [True]  # no temporary folder left
    model_file = entries[0] / "model.onnx"
    assert (entries[0] / COMPLETE_MARKER).is_file()
    before = model_file.stat()
    second = CrossEncoder(str(tiny_reranker), backend="onnx")  # a new instance: loads again
    assert second.runner is not first.runner
    after = model_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted((reranker_cache / "models").iterdir()) == entries


def test_reranker_stage_and_compressor_order_like_torch(
    tiny_reranker: Path, reranker_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_core.documents import Document as LCDocument

    monkeypatch.setenv("RAGLOOM_CACHE", str(reranker_cache))
    hits = []
    for n, text in enumerate(t for t in TEXTS if t):
        chunk = Chunk(doc_id=f"d{n}", text=text, start=0, end=len(text), id=f"c{n}")
        hits.append(Hit(chunk, 1.0 / (n + 1)))
    ranked = {}
    for backend in ("torch", "onnx"):
        stage = CrossEncoderReranker(model=str(tiny_reranker), backend=backend, batch_size=2)
        ranked[backend] = stage.run(query=QUERY, hits=hits)["hits"]
    assert [h.chunk.id for h in ranked["onnx"]] == [h.chunk.id for h in ranked["torch"]]
    scores = {backend: [h.score for h in hits] for backend, hits in ranked.items()}
    assert np.allclose(scores["onnx"], scores["torch"], atol=1e-4)

    docs = [LCDocument(page_content=h.chunk.text) for h in hits]
    compressor = CrossEncoderCompressor(model=str(tiny_reranker), backend="onnx", top_k=3)
    best = compressor.compress_documents(docs, QUERY)
    assert [d.page_content for d in best] == [h.chunk.text for h in ranked["torch"][:3]]


def test_int8_cross_encoder_keeps_the_top_passage(
    tiny_reranker: Path, reranker_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGLOOM_CACHE", str(reranker_cache))
    passages = [t for t in TEXTS if t]
    expected = CrossEncoder(str(tiny_reranker)).score(QUERY, passages)
    got = CrossEncoder(str(tiny_reranker), backend="onnx", quantize="int8").score(QUERY, passages)
    assert int(np.argmax(got)) == int(np.argmax(expected))
    assert np.corrcoef(got, expected)[0, 1] > 0.9


def test_yaml_pipeline_with_onnx_indexes_and_answers_like_torch(tmp_path: Path) -> None:
    examples = ROOT / "examples"
    onnx = RAG.from_file(examples / "hybrid-onnx.yaml", index_dir=tmp_path / "onnx")
    report = onnx.index([CORPUS])
    assert report.documents == len(list(CORPUS.iterdir()))
    question = "What is reciprocal rank fusion?"
    result = onnx.query(question, top_k=3)
    assert result.hits[0].chunk.doc_id.endswith("fusion.txt")
    torch_rag = RAG.from_file(examples / "hybrid.yaml", index_dir=tmp_path / "torch")
    torch_rag.index([CORPUS])
    expected = torch_rag.query(question, top_k=3)
    assert [h.chunk.id for h in result.hits] == [h.chunk.id for h in expected.hits]


STAGE = """
components:
  encoder:
    type: {type}
    init_parameters: {{{params}}}
connections: []
inputs: {{{inputs}}}
"""
INPUTS = {
    "chunk_encoder": "chunks: [encoder.chunks]",
    "late_chunking_encoder": "chunks: [encoder.chunks]",
    "query_encoder": "query: [encoder.query]",
    "cross_encoder_reranker": "query: [encoder.query], hits: [encoder.hits]",
}


@pytest.mark.parametrize(
    ("stage", "params", "field", "words"),
    [
        ("chunk_encoder", "backend: tensorrt", "backend", "'torch', 'onnx' or 'openvino'"),
        ("query_encoder", "quantize: int4", "quantize", "'none' or 'int8'"),
        ("late_chunking_encoder", "quantize: int8", "quantize", "needs backend: onnx"),
        ("chunk_encoder", "backend: onnx, dtype: bfloat16", "dtype", "runs float32"),
        (
            "cross_encoder_reranker",
            "model: x, backend: gpu",
            "backend",
            "'torch', 'onnx' or 'openvino'",
        ),
    ],
)
def test_bad_backend_settings_are_refused_at_load(
    stage: str, params: str, field: str, words: str
) -> None:
    text = STAGE.format(type=stage, params=params, inputs=INPUTS[stage])
    with pytest.raises(ConfigError) as info:
        Pipeline.from_yaml_text(text)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert field in message and words in message, message
