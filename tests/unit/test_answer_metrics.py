"""Answer metrics: SQuAD-style exact match and F1, citation precision, QA file errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragloom.errors import ConfigError
from ragloom.evaluation.answers import (
    citation_precision,
    exact_match,
    normalise,
    read_qa,
    token_f1,
)
from ragloom.types import Answer, Chunk, Document, Hit


def test_normalise_drops_case_punctuation_articles_and_spaces() -> None:
    assert normalise("  The Stateful,  worker-process! ") == "stateful workerprocess"


def test_exact_match_takes_the_best_reference() -> None:
    assert exact_match("Reranking depth.", ("rerank depth", "reranking depth")) == 1.0
    assert exact_match("depth", ("reranking depth",)) == 0.0


def test_token_f1_partial_credit() -> None:
    assert token_f1("k1 controls saturation", ("k1",)) == pytest.approx(0.5)
    assert token_f1("nothing shared", ("k1",)) == 0.0
    assert token_f1("", ("",)) == 1.0


def test_citation_precision_counts_cited_passages_holding_the_answer() -> None:
    doc = Document("k1 controls saturation. b controls length. Unrelated text here.", id="d")
    hits = [Hit(Chunk.from_span(doc, 0, 23, 0), 1.0), Hit(Chunk.from_span(doc, 43, 62, 1), 0.5)]
    assert citation_precision(Answer("k1 [1]", hits=hits, cited=[1]), ("k1",)) == 1.0
    assert citation_precision(Answer("k1 [1][2]", hits=hits, cited=[1, 2]), ("k1",)) == 0.5
    assert citation_precision(Answer("k1", hits=hits, cited=[]), ("k1",)) is None


def test_read_qa_accepts_a_single_answer_string(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"question": "q?", "answers": "a"}\n\n'
        '{"id": "x", "question": "r?", "answers": ["b", "c"]}\n'
    )
    items = read_qa(path)
    assert [(i.id, i.answers) for i in items] == [("1", ("a",)), ("x", ("b", "c"))]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("{not json", "invalid JSON"),
        ('{"answers": ["a"]}', "question"),
        ('{"question": "q", "answers": 3}', "answers"),
    ],
)
def test_read_qa_errors_name_file_line_and_field(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "ok?", "answers": ["a"]}\n' + line + "\n")
    with pytest.raises(ConfigError, match=needle) as info:
        read_qa(path)
    assert f"{path}:2" in str(info.value)


def test_empty_qa_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text("\n")
    with pytest.raises(ConfigError, match="no questions"):
        read_qa(path)


def test_example_qa_file_is_well_formed() -> None:
    items = read_qa(Path(__file__).resolve().parents[2] / "examples" / "qa.jsonl")
    assert len(items) == 5 and all(item.answers for item in items)
