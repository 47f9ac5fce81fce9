"""`ragloom eval` and the example configs on a 30-document slice of SciFact (written to tmp)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.config import load_config
from ragloom.errors import ConfigError
from ragloom.evaluation.beir import load_qrels, load_queries
from ragloom.evaluation.runner import evaluate_beir
from tests.integration.conftest import ROOT, SCIFACT, ragloom_cli

EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.skipif(not SCIFACT.is_dir(), reason="../shared/datasets/scifact absent")


@pytest.fixture(scope="module")
def scifact_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 10 judged test queries, their relevant abstracts, and fillers: 30 documents."""
    folder = tmp_path_factory.mktemp("scifact-slice")
    qrels = dict(list(load_qrels(SCIFACT, "test").items())[:10])
    wanted = {doc for docs in qrels.values() for doc in docs}
    corpus = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["_id"] in wanted or len(corpus) < 30 - len(wanted):
                corpus.append(line)
            if len(corpus) == 30:
                break
    assert len(corpus) == 30
    (folder / "corpus.jsonl").write_text("".join(corpus), encoding="utf-8")
    queries = load_queries(SCIFACT)
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in qrels)
    )
    (folder / "qrels").mkdir()
    rows = [f"{q}\t{d}\t{s}\n" for q, docs in qrels.items() for d, s in docs.items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows))
    return folder


def test_eval_cli_prints_metrics_json_last_and_reuses_its_index(
    scifact_slice: Path, tmp_path: Path
) -> None:
    args = ["eval", "-c", str(EXAMPLES / "bm25.yaml"), "--beir", str(scifact_slice), "--json"]
    first = ragloom_cli(*args, cwd=tmp_path)
    result = json.loads(first.stdout.strip().splitlines()[-1])
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10", "index_seconds"} <= set(result)
    assert 0 < result["query_ms_p50"] <= result["query_ms_p95"]
    assert result["queries"] == 10 and result["documents"] == 30
    assert result["ndcg@10"] > 0.6 and result["recall@100"] >= 0.9
    assert result["index_reused"] is False and "indexing 30 documents" in first.stderr
    assert (tmp_path / result["index_dir"] / "manifest.json").is_file()
    again = json.loads(ragloom_cli(*args, "--limit-queries", "3", cwd=tmp_path).stdout)
    assert again["index_reused"] is True and again["queries"] == 3
    human = ragloom_cli(*args[:-1], "--limit-queries", "3", cwd=tmp_path).stdout
    assert "ndcg@10" in human and "reused" in human


def test_eval_cli_errors_are_one_line_messages(scifact_slice: Path, tmp_path: Path) -> None:
    proc = ragloom_cli("eval", "--beir", str(scifact_slice), "--split", "dev", check=False)
    assert proc.returncode == 1 and "no such split 'dev'" in proc.stderr
    proc = ragloom_cli("eval", "--beir", str(tmp_path), check=False)
    assert proc.returncode == 1 and "not a BEIR dataset folder" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("config", ["naive-chunking.yaml", "late-chunking.yaml"])
def test_dense_example_configs_index_and_rank(
    config: str, scifact_slice: Path, tmp_path: Path
) -> None:
    report = evaluate_beir(
        load_config(EXAMPLES / config), scifact_slice, index_dir=tmp_path / "index"
    )
    assert report.documents == 30 and report.chunks["writer"] > 30
    assert report.metrics["ndcg@10"] > 0.6 and report.metrics["recall@100"] == 1.0
    with pytest.raises(ConfigError, match="another indexing pipeline"):
        evaluate_beir(
            load_config(EXAMPLES / "bm25.yaml"), scifact_slice, index_dir=tmp_path / "index"
        )
