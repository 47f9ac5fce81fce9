"""Evaluation: chunk hits to document runs, trec_eval metrics by hand, BEIR files, ranking part."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ragloom.config import load_config
from ragloom.evaluation.beir import load_qrels, load_split
from ragloom.evaluation.metrics import document_run, evaluate, per_query, ranked
from ragloom.evaluation.runner import _pipeline_key, deepen, default_index_dir, ranking_pipeline
from ragloom.loaders.files import LoaderError
from ragloom.types import Chunk, Hit

ROOT = Path(__file__).resolve().parents[2]


def _hit(doc_id: str, score: float, start: int = 0) -> Hit:
    return Hit(Chunk(doc_id=doc_id, text="x", start=start, end=start + 1), score)


def test_chunk_hits_collapse_to_their_best_chunk_per_document() -> None:
    hits = [_hit("a", 0.9), _hit("b", 0.8), _hit("a", 0.7, 5), _hit("c", 0.8), _hit("d", 0.1)]
    assert document_run(hits) == {"a": 0.9, "b": 0.8, "c": 0.8, "d": 0.1}
    assert list(document_run(hits, depth=2)) == ["a", "b"]


def test_ranked_keeps_the_pipeline_order_for_ties() -> None:
    # trec_eval would break the b/c tie by document id, descending (c first); ranked() keeps b.
    assert ranked({"a": 3.0, "b": 1.0, "c": 1.0}) == {"a": 3.0, "b": 2.0, "c": 1.0}
    assert ranked({"a": 3.0, "b": 1.0, "c": 1.0}, cutoff=1) == {"a": 1.0}


def test_metrics_match_a_hand_computation() -> None:
    qrels = {"q1": {"d1": 1, "d2": 1}, "q2": {"d9": 1}}
    run = {
        "q1": {"d3": 0.9, "d1": 0.8, "d2": 0.7},
        "q2": {f"x{i}": 1.0 - i / 100 for i in range(20)},
    }
    run["q2"]["d9"] = 0.5  # rank 21: outside @10, inside @100
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(3)
    values = per_query(qrels, run)
    assert values["q1"]["ndcg@10"] == pytest.approx(dcg / ideal)
    assert values["q1"]["mrr@10"] == pytest.approx(0.5)
    assert values["q1"]["recall@10"] == 1.0
    assert values["q2"] == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 1.0, "mrr@10": 0.0}
    means = evaluate(qrels, run)
    assert means["recall@100"] == 1.0 and means["mrr@10"] == pytest.approx(0.25)


def test_a_judged_query_without_hits_counts_as_zero() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    means = evaluate(qrels, {"q1": {"d1": 1.0}, "q2": {}})
    assert means["ndcg@10"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(qrels, {}, ["ndcg@5"])


def _beir(tmp_path: Path) -> Path:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "x"}) + "\n")
    queries = [{"_id": q, "text": f"query {q}"} for q in ("1", "2", "3")]
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n3\td1\t1\n1\td1\t1\n1\td2\t2\n2\td1\t0\n"
    )
    return tmp_path


def test_beir_split_keeps_judged_queries_in_qrels_order(tmp_path: Path) -> None:
    folder = _beir(tmp_path)
    assert load_qrels(folder) == {"3": {"d1": 1}, "1": {"d1": 1, "d2": 2}, "2": {"d1": 0}}
    queries, qrels = load_split(folder, "test")
    assert list(qrels) == ["3", "1"]
    assert list(queries) == ["3", "1"] and queries["1"] == "query 1"  # "2" has no relevant doc
    queries, _ = load_split(folder, "test", limit=1)
    assert list(queries) == ["3"]
    with pytest.raises(LoaderError, match=r"no such split 'dev' \(available: test\)"):
        load_split(folder, "dev")
    with pytest.raises(LoaderError, match="not a BEIR dataset"):
        load_split(folder / "qrels", "test")


def test_ranking_part_drops_the_answerer_and_deepens_every_top_k() -> None:
    config = load_config(ROOT / "examples" / "hybrid-chunks.yaml")
    ranking = ranking_pipeline(config.query)
    assert set(ranking.components) == {"query_encoder", "dense", "bm25", "fusion"}
    assert set(ranking.inputs) == {"query", "top_k", "filters"}
    assert list(ranking.outputs) == ["hits"]
    deepen(ranking, 500)
    assert {getattr(c, "top_k", 500) for c in ranking.components.values()} == {500}


def test_ranking_part_up_to_another_socket_drops_what_follows_it() -> None:
    query = load_config(ROOT / "examples" / "hybrid-rerank.yaml").query
    assert "reranker" in ranking_pipeline(query).components
    fused = ranking_pipeline(query, hits="fusion.hits")
    assert set(fused.components) == {"query_encoder", "dense", "bm25", "fusion"}
    assert str(fused.outputs["hits"]) == "fusion.hits"
    assert set(fused.inputs) == {"query", "filters"}  # top_k fed only the reranker
    only_bm25 = ranking_pipeline(query, hits="bm25.hits")
    assert set(only_bm25.components) == {"bm25"}


def test_each_indexing_pipeline_gets_its_own_default_eval_index() -> None:
    dataset = Path("/data/scifact")
    naive = load_config(ROOT / "examples" / "naive-chunking.yaml")
    late = load_config(ROOT / "examples" / "late-chunking.yaml")
    assert default_index_dir(naive, dataset) != default_index_dir(late, dataset)
    assert default_index_dir(naive, dataset).name.startswith("scifact-")
    assert default_index_dir(naive, dataset) == default_index_dir(
        load_config(ROOT / "examples" / "naive-chunking.yaml"), dataset
    )


def test_settings_left_at_none_do_not_change_the_index_identity() -> None:
    """An index built before a release added an optional setting is still this pipeline's."""
    dataset = Path("/data/scifact")
    config = load_config(ROOT / "examples" / "hybrid-chunks.yaml")
    before = config.indexing.to_dict()
    for spec in before["components"].values():
        spec["init_parameters"].pop("server", None)  # what an older release wrote
    assert _pipeline_key(before) == _pipeline_key(config.indexing.to_dict())
    on_server = config.indexing.to_dict()
    on_server["components"]["dense_writer"]["init_parameters"]["server"] = "http://127.0.0.1:8000"
    assert _pipeline_key(before) != _pipeline_key(on_server)
    assert default_index_dir(config, dataset) == default_index_dir(
        load_config(ROOT / "examples" / "hybrid-chunks.yaml"), dataset
    )


def test_settings_added_since_an_index_was_built_take_their_defaults() -> None:
    """A manifest written before `backend` and `quantize` existed still names this pipeline;
    a setting that differs from its default does not."""
    config = load_config(ROOT / "examples" / "hybrid.yaml")
    before = config.indexing.to_dict()
    encoder = before["components"]["encoder"]["init_parameters"]
    encoder.pop("backend"), encoder.pop("quantize")  # what the previous release wrote
    assert _pipeline_key(before) == _pipeline_key(config.indexing.to_dict())
    encoder["backend"] = "onnx"
    assert _pipeline_key(before) != _pipeline_key(config.indexing.to_dict())
