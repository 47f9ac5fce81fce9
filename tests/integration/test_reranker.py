"""The cross-encoder reranker and `ragloom train-reranker`, on a tiny reranker trained here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from langchain_core.documents import Document as LCDocument
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.errors import ComponentConfigError, ModelNotFoundError
from ragloom.pipeline.graph import Pipeline
from ragloom.rerank.cross_encoder import CrossEncoder, load_cross_encoder
from ragloom.rerank.langchain_compressor import CrossEncoderCompressor
from ragloom.rerank.reranker import CrossEncoderReranker, rerank_hits
from ragloom.rerank.training import CARD_FILE
from ragloom.types import Chunk, Hit
from tests.integration.conftest import RERANK_PAIRS

PASSAGES = [str(p["positive"]) for p in RERANK_PAIRS] + [
    "Chroma stores dense vectors on disk.",
    "The ocean is blue and deep.",
]


def hits_for(passages: list[str]) -> list[Hit]:
    hits = []
    for n, text in enumerate(passages):
        chunk = Chunk(doc_id=f"d{n}", text=text, start=0, end=len(text), id=f"c{n}")
        hits.append(Hit(chunk, 1.0 / (n + 1), {"bm25": 10.0 - n}, {"bm25": n + 1}))
    return hits


def reference_scores(model_dir: Path, query: str, passages: list[str]) -> np.ndarray:
    """Logits computed straight with transformers, one pair at a time (no batching/padding)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    scores = []
    with torch.inference_mode():
        for passage in passages:
            batch = tokenizer(query, passage, truncation=True, max_length=512, return_tensors="pt")
            scores.append(float(model(**batch).logits[0, 0]))
    return np.array(scores)


def test_trained_folder_is_a_standard_model(tiny_reranker: Path) -> None:
    card = json.loads((tiny_reranker / CARD_FILE).read_text())
    assert card["steps"] == 12 and card["base_model"] == "minilm"
    config = json.loads((tiny_reranker / "config.json").read_text())
    assert config["num_labels"] == 1 if "num_labels" in config else len(config["id2label"]) == 1
    assert not list(tiny_reranker.glob("*.bin")) and list(tiny_reranker.glob("*.safetensors"))


def test_training_learns_the_pairs(tiny_reranker: Path) -> None:
    """Twelve steps on four pairs are enough to rank each query's own passage first."""
    encoder = CrossEncoder(str(tiny_reranker))
    for n, pair in enumerate(RERANK_PAIRS):
        scores = encoder.score(str(pair["query"]), PASSAGES)
        assert int(np.argmax(scores)) == n, (pair["query"], scores)


def test_reranked_order_matches_transformers(tiny_reranker: Path) -> None:
    query = "what is BM25"
    expected = reference_scores(tiny_reranker, query, PASSAGES)
    reranker = CrossEncoderReranker(model=str(tiny_reranker), top_k=10, batch_size=2)
    ranked = reranker.run(query=query, hits=hits_for(PASSAGES))["hits"]
    assert [h.chunk.text for h in ranked] == [PASSAGES[i] for i in np.argsort(-expected)]
    assert np.allclose([h.score for h in ranked], np.sort(expected)[::-1], atol=1e-4)
    # Each hit keeps its retriever's score and rank and gains the reranker's.
    for rank, hit in enumerate(ranked, 1):
        assert hit.source_ranks["rerank"] == rank
        assert hit.source_scores["rerank"] == hit.score
        assert hit.source_ranks["bm25"] == int(hit.chunk.id[1:]) + 1


def test_batch_size_does_not_change_scores(tiny_reranker: Path) -> None:
    encoder = load_cross_encoder(str(tiny_reranker))
    one = encoder.score("late chunking", PASSAGES, batch_size=1)
    many = encoder.score("late chunking", PASSAGES, batch_size=16)
    assert np.allclose(one, many, atol=1e-4)


def test_truncation_caps_pair_length(tiny_reranker: Path) -> None:
    encoder = load_cross_encoder(str(tiny_reranker))
    head = "BM25 ranks documents by term frequency."
    a, b = head + " apples " * 300, head + " oceans " * 300
    short = encoder.score("what is BM25", [a, b], max_length=16)
    assert short[0] == pytest.approx(short[1], abs=1e-5)  # only the shared start is read
    full = encoder.score("what is BM25", [a, b])  # long passages are cut at 512, not an error
    assert full[0] != pytest.approx(full[1], abs=1e-5)


def test_depth_top_k_and_threshold(tiny_reranker: Path) -> None:
    encoder = load_cross_encoder(str(tiny_reranker))
    hits = hits_for(PASSAGES)
    ranked = rerank_hits(encoder, "what is BM25", hits, depth=3)
    assert {h.chunk.id for h in ranked[:3]} == {"c0", "c1", "c2"}
    assert all("rerank" in h.source_scores for h in ranked[:3])
    # Past the depth, candidates follow in retrieval order, unscored and below the rest.
    assert [h.chunk.id for h in ranked[3:]] == ["c3", "c4", "c5"]
    assert all("rerank" not in h.source_scores for h in ranked[3:])
    scores = [h.score for h in ranked]
    assert scores == sorted(scores, reverse=True)
    assert len(rerank_hits(encoder, "what is BM25", hits, top_k=2)) == 2
    every = rerank_hits(encoder, "what is BM25", hits)
    cut = every[2].score
    kept = rerank_hits(encoder, "what is BM25", hits, threshold=cut, depth=4)
    first_four = {"c0", "c1", "c2", "c3"}  # only these are scored at depth 4
    expected = [h.chunk.id for h in every if h.score >= cut and h.chunk.id in first_four]
    assert [h.chunk.id for h in kept] == expected and expected
    assert rerank_hits(encoder, "what is BM25", []) == []


def test_retrieval_weight_blends_normalised_scores(tiny_reranker: Path) -> None:
    encoder = load_cross_encoder(str(tiny_reranker))
    hits = hits_for(PASSAGES)
    query = "what is BM25"
    raw = encoder.score(query, PASSAGES).astype(float)
    retrieval = np.array([h.score for h in hits])

    def scaled(x: np.ndarray) -> np.ndarray:
        return (x - x.min()) / (x.max() - x.min())

    expected = 0.7 * scaled(raw) + 0.3 * scaled(retrieval)
    blended = rerank_hits(encoder, query, hits, retrieval_weight=0.3)
    by_id = {h.chunk.id: h for h in blended}
    for n in range(len(PASSAGES)):
        hit = by_id[f"c{n}"]
        assert hit.score == pytest.approx(expected[n], abs=1e-5)
        assert hit.source_scores["rerank"] == pytest.approx(raw[n], abs=1e-5)
        assert hit.source_scores["bm25"] == 10.0 - n  # the retriever's own score is kept
    assert [h.chunk.id for h in blended] == [f"c{n}" for n in np.argsort(-expected, kind="stable")]
    # The reranker's own rank is kept too, whatever the blend does to the order.
    reranker_order = [f"c{n}" for n in np.argsort(-raw, kind="stable")]
    assert [by_id[c].source_ranks["rerank"] for c in reranker_order] == list(
        range(1, len(PASSAGES) + 1)
    )
    only_retrieval = rerank_hits(encoder, query, hits, retrieval_weight=1.0)
    assert [h.chunk.id for h in only_retrieval] == [h.chunk.id for h in hits]
    with pytest.raises(ComponentConfigError, match="retrieval_weight"):
        CrossEncoderReranker(model=str(tiny_reranker), retrieval_weight=1.5)


def test_reranker_in_a_yaml_pipeline(tiny_reranker: Path) -> None:
    pipe = Pipeline.from_yaml_text(
        f"""
components:
  reranker:
    type: cross_encoder_reranker
    init_parameters: {{model: {json.dumps(str(tiny_reranker))}, top_k: 2, depth: 4}}
inputs:
  query: [reranker.query]
  hits: [reranker.hits]
outputs:
  hits: reranker.hits
"""
    )
    again = Pipeline.from_yaml_text(pipe.to_yaml())
    hits = hits_for(PASSAGES)
    first = pipe.run({"query": "what is BM25", "hits": hits})["hits"]
    second = again.run({"query": "what is BM25", "hits": hits})["hits"]
    assert len(first) == 2 and [h.chunk.id for h in first] == [h.chunk.id for h in second]


def test_missing_model_fails_clearly(tmp_path: Path) -> None:
    reranker = CrossEncoderReranker(model=str(tmp_path / "no-such-model"))
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        reranker.warm_up()


def test_langchain_documents_are_reranked(tiny_reranker: Path) -> None:
    docs = [LCDocument(page_content=p, metadata={"n": n}) for n, p in enumerate(PASSAGES)]
    compressor = CrossEncoderCompressor(model=str(tiny_reranker), top_k=3)
    best = compressor.compress_documents(docs, "what is BM25")
    expected = reference_scores(tiny_reranker, "what is BM25", PASSAGES)
    assert [d.metadata["n"] for d in best] == list(np.argsort(-expected)[:3])
    assert best[0].metadata["rerank_score"] == pytest.approx(expected.max(), abs=1e-4)


def test_train_reranker_cli(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in RERANK_PAIRS), encoding="utf-8")
    out = tmp_path / "model"
    args = ["train-reranker", "--data", str(pairs), "--output", str(out)]
    small = ["--max-steps", "2", "--max-length", "32", "--negatives", "2"]
    result = CliRunner().invoke(app, [*args, *small, "--holdout", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    queries = {str(p["query"]) for p in RERANK_PAIRS}
    held = report["held_out_queries"]
    assert len(held) == round(len(queries) * 0.5) and set(held) <= queries
    assert report["steps"] == 2
    assert report["groups"] == sum(p["query"] not in held for p in RERANK_PAIRS)
    card = json.loads((out / CARD_FILE).read_text())
    assert card["held_out_queries"] == held
    assert CrossEncoder(str(out)).score("q", ["p"]).shape == (1,)
    refused = CliRunner().invoke(app, [*args, *small])
    assert refused.exit_code != 0 and "already exists" in refused.output
    bad = CliRunner().invoke(app, [*args, "--overwrite", "--miner", "grep"])
    assert bad.exit_code != 0 and "miner" in bad.output


def test_hybrid_rerank_example_is_hybrid_plus_a_reranker(
    tiny_reranker: Path, tmp_path: Path
) -> None:
    from ragloom.config import load_config
    from ragloom.rag import RAG
    from tests.integration.conftest import CORPUS, ROOT

    hybrid = load_config(ROOT / "examples" / "hybrid.yaml")
    reranked = load_config(ROOT / "examples" / "hybrid-rerank.yaml")
    assert hybrid.indexing.to_dict() == reranked.indexing.to_dict()
    extra = set(reranked.query.components) - set(hybrid.query.components)
    assert extra == {"reranker"}
    reranked.query.components["reranker"].model = str(tiny_reranker)
    rag = RAG(reranked, tmp_path / "index")
    rag.index([CORPUS])
    result = rag.query("What is reciprocal rank fusion?", top_k=3)
    assert len(result.hits) == 3
    for hit in result.hits:  # reranked, and each keeps where its retrievers ranked it
        assert "rerank" in hit.source_scores and {"bm25", "dense"} & set(hit.source_ranks)
    assert result.answer is not None and result.answer.cited


def test_dense_and_hybrid_miners_rank_related_passages_first() -> None:
    from ragloom.rerank.training_data import dense_ranker, make_ranker

    corpus = [
        "The cat sat on the warm windowsill.",
        "Kittens and cats purr when they are content.",
        "Stock markets fell sharply on Monday.",
        "Interest rates were raised by the central bank.",
    ]
    dense = dense_ranker(corpus)
    assert set(dense("a purring kitten", 2)) == {0, 1}
    assert set(dense("monetary policy and finance", 2)) == {2, 3}
    hybrid = make_ranker("hybrid", corpus)
    assert hybrid("cats purr", 1) == [1]  # both retrievers agree
    assert sorted(hybrid("cats purr", 10)) == [0, 1, 2, 3]  # dense ranks every passage
