"""`ragloom eval` and the example configs on a 30-document slice of SciFact (written to tmp)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.config import load_config
from ragloom.errors import ConfigError
from ragloom.evaluation.runner import evaluate_beir
from tests.integration.conftest import ROOT, SCIFACT, ragloom_cli

EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.skipif(not SCIFACT.is_dir(), reason="../shared/datasets/scifact absent")


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


def test_batched_queries_score_as_one_at_a_time(scifact_slice: Path, tmp_path: Path) -> None:
    """Queries run together (encoder and Chroma once per batch) rank as they do alone."""
    config = EXAMPLES / "naive-chunking.yaml"
    reports = [
        evaluate_beir(
            load_config(config), scifact_slice, index_dir=tmp_path / "index", batch_size=size
        )
        for size in (1, 4)
    ]
    assert [r.batch_size for r in reports] == [1, 4]
    assert reports[0].metrics == reports[1].metrics
    assert len(reports[1].query_ms) == reports[1].queries == 10
