"""Training data for `ragloom train-reranker`: JSONL parsing, BEIR pairs, negative mining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.errors import ConfigError
from ragloom.rerank.training import TrainingOptions, hold_out, load_training_set
from ragloom.rerank.training_data import (
    TrainingGroup,
    TrainingSet,
    beir_training_set,
    bm25_ranker,
    jsonl_training_set,
    mine_negatives,
)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_jsonl_groups_and_corpus(tmp_path: Path) -> None:
    file = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"query": "q1", "positive": "p1", "negatives": ["n1", "n2"]},
            {"query": "q2", "positive": "p2"},
            {"query": "q1", "positive": "p3"},
        ],
    )
    data = jsonl_training_set(file)
    assert [g.query for g in data.groups] == ["q1", "q2", "q1"]
    assert data.groups[0].negatives == ["n1", "n2"]
    assert data.corpus == ["p1", "n1", "n2", "p2", "p3"]
    # Both positives of q1 are relevant to it, so neither may become its negative.
    assert data.relevant["q1"] == {0, 4}
    assert data.relevant["q2"] == {3}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "invalid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"positive": "p"}', "field 'query'"),
        ('{"query": "q", "positive": "  "}', "field 'positive'"),
        ('{"query": "q", "positive": "p", "negatives": "n"}', "field 'negatives'"),
        ('{"query": "q", "positive": "p", "negatives": [""]}', "field 'negatives'"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text('{"query": "ok", "positive": "fine"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        jsonl_training_set(file)
    assert f"{file}:2" in str(err.value)


def test_empty_jsonl_and_missing_data(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no training pairs"):
        jsonl_training_set(empty)
    with pytest.raises(ConfigError, match="no such BEIR folder or JSONL"):
        load_training_set(tmp_path / "missing")


def test_beir_pairs(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "corpus.jsonl",
        [{"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(4)],
    )
    write_jsonl(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "first"}])
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td2\t1\nq1\td0\t1\nq1\td3\t0\n", encoding="utf-8"
    )
    data = beir_training_set(tmp_path, "train")
    assert len(data.corpus) == 4
    assert [g.query for g in data.groups] == ["first", "first"]
    assert data.relevant["first"] == {0, 2}  # score 0 is not relevant
    assert all(g.positive in data.corpus for g in data.groups)


def corpus_set() -> TrainingSet:
    corpus = [
        "apples are red fruit",
        "apples grow on apple trees",
        "bananas are yellow fruit",
        "red cars drive fast",
        "apple pie recipe with red apples",
        "the ocean is blue",
    ]
    groups = [TrainingGroup("red apples", corpus[0])]
    return TrainingSet(groups, corpus, {"red apples": {0}})


def test_mined_negatives_are_top_hits_never_relevant() -> None:
    data = corpus_set()
    groups = mine_negatives(data, bm25_ranker(data.corpus), negatives=2, mine_depth=3, seed=1)
    (group,) = groups
    assert len(group.negatives) == 2
    assert data.corpus[0] not in group.negatives
    # Drawn from the three best BM25 hits that are not relevant (all mention red or apples).
    assert set(group.negatives) <= {data.corpus[i] for i in (1, 3, 4)}
    again = mine_negatives(data, bm25_ranker(data.corpus), negatives=2, mine_depth=3, seed=1)
    assert again == groups


def test_too_few_hits_are_filled_with_other_passages() -> None:
    data = corpus_set()
    groups = mine_negatives(data, bm25_ranker(data.corpus), negatives=5, mine_depth=30)
    negatives = groups[0].negatives
    assert len(negatives) == 5 == len(set(negatives))
    assert data.corpus[0] not in negatives


def test_given_negatives_are_kept() -> None:
    data = corpus_set()
    data.groups[0].negatives = ["the ocean is blue"]
    groups = mine_negatives(data, bm25_ranker(data.corpus), negatives=3, mine_depth=3)
    assert groups[0].negatives[0] == "the ocean is blue"
    assert len(groups[0].negatives) == len(set(groups[0].negatives)) == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("negatives", 0),
        ("epochs", 0),
        ("learning_rate", -1.0),
        ("miner", "grep"),
        ("max_steps", 0),
        ("holdout", 1.0),
        ("holdout", -0.1),
    ],
)
def test_bad_options_name_the_setting(field: str, value: object) -> None:
    options = TrainingOptions(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=field):
        options.check()


def test_holdout_removes_every_group_of_the_held_out_queries() -> None:
    groups = [TrainingGroup(f"q{n % 10}", f"passage {n}") for n in range(25)]
    data = TrainingSet(groups, [g.positive for g in groups], {})
    kept, held = hold_out(data, 0.3, seed=1)
    assert len(held) == 3 and held == sorted(held)
    assert not {g.query for g in kept.groups} & set(held)
    assert {g.query for g in kept.groups} | set(held) == {f"q{n}" for n in range(10)}
    assert len(kept.groups) == 25 - sum(g.query in held for g in groups)
    assert hold_out(data, 0.3, seed=1)[1] == held  # the seed decides, reproducibly
    assert hold_out(data, 0.0, seed=1) == (data, [])
    with pytest.raises(ConfigError, match="holdout"):
        hold_out(TrainingSet(groups[:1], [], {}), 0.5, seed=0)
