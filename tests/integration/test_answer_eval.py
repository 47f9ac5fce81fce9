"""Answer evaluation end to end: the example QA set over the example corpus."""

from __future__ import annotations

from pathlib import Path

from ragloom.evaluation.answers import evaluate_qa_file
from ragloom.rag import RAG
from tests.integration.conftest import CORPUS, ROOT

QA = ROOT / "examples" / "qa.jsonl"


def test_extractive_answers_are_scored_with_citation_precision(tmp_path: Path) -> None:
    rag = RAG.from_file(ROOT / "examples" / "hybrid-chunks.yaml", index_dir=tmp_path / "index")
    report = evaluate_qa_file(rag, QA, corpus=[CORPUS])
    assert report.questions == 5
    assert 0.0 <= report.exact_match <= report.f1 <= 1.0
    assert report.f1 > 0  # extractive answers quote the passage holding the reference
    assert report.cited_share == 1.0  # the extractive answerer always cites when it answers
    assert report.citation_precision is not None and report.citation_precision >= 0.6
    assert {row["id"] for row in report.per_question} == {
        "bm25-k1",
        "bm25-b",
        "rrf-k",
        "rerank-depth",
        "ray-actor",
    }


def test_local_llm_answers_are_scored(example_index: Path) -> None:
    report = evaluate_qa_file(RAG(index_dir=example_index), QA, limit=2)
    assert report.questions == 2
    assert report.seconds_per_question > 0
    assert set(report.to_dict()) >= {"exact_match", "f1", "citation_precision"}


def test_eval_cli_reports_answer_metrics_as_json(tmp_path: Path) -> None:
    import json

    from tests.integration.conftest import ragloom_cli

    proc = ragloom_cli(
        "eval",
        "--qa",
        str(QA),
        "--corpus",
        str(CORPUS),
        "-c",
        str(ROOT / "examples" / "hybrid-chunks.yaml"),
        "--index-dir",
        str(tmp_path / "index"),
        "--json",
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["qa_questions"] == 5
    assert {"exact_match", "f1", "citation_precision", "cited_share"} <= set(result)


def test_eval_without_data_is_a_clear_error() -> None:
    from tests.integration.conftest import ragloom_cli

    proc = ragloom_cli("eval", check=False)
    assert proc.returncode != 0 and "--beir" in proc.stderr and "--qa" in proc.stderr
