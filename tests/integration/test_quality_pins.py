"""Retrieval quality pinned on SciFact, so a change that costs ranking quality fails the suite.

BM25 (`examples/bm25.yaml`) runs on the whole test split, as `ragloom eval` does. The model
configurations run on a fixed slice small enough for CI: the first 150 judged test claims (in
qrels/test.tsv order) over the corpus of the 150 abstracts they judge, each claim's evidence
serving as the other claims' distractors; no sampling, so the slice is the same everywhere. Dense is
`examples/late-chunking.yaml`'s query pipeline over the index `examples/hybrid.yaml` builds (its
dense half is exactly late-chunking's indexing, checked below), so the slice is encoded once.

Every run uses the project's evaluation (`evaluate_beir`: trec_eval via pytrec-eval) at depth
100, the depth the hybrid example is published at; BM25's nDCG@10, Recall@10 and MRR@10 equal
its depth-1000 `ragloom eval` figures (benchmarks/README.md). The pinned values were measured
on the 2-core development machine (torch 2.13.0 CPU, 2 threads): see "Quality pins" in
benchmarks/README.md. A pin moves only on purpose: re-measure, and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.config import RagConfig, load_config
from ragloom.evaluation.beir import load_qrels, load_queries
from ragloom.evaluation.runner import EvalReport, evaluate_beir
from ragloom.rag import RAG
from tests.integration.conftest import ROOT, SCIFACT

#: Absolute tolerance around each pinned metric: one claim moving its relevant abstract from
#: rank 1 to rank 2 costs 0.37 / 150 = 0.0025 nDCG@10 on the slice; a real regression moves many.
TOLERANCE = 0.005
DEPTH = 100
#: Claims in the slice: its corpus is what they judge (MiniLM late chunking costs ~0.16 s per
#: SciFact abstract on 2 cores, so the slice's size is its documents).
SLICE_CLAIMS = 150
SLICE_DOCUMENTS = 150

PINS: dict[str, dict[str, float]] = {
    # Whole SciFact test split (5,183 abstracts, 300 claims).
    "bm25": {
        "ndcg@10": 0.653075,
        "recall@10": 0.767333,
        "recall@100": 0.876389,
        "mrr@10": 0.622045,
    },
    # The slice (150 claims, 150 abstracts).
    "dense": {"ndcg@10": 0.920832, "recall@10": 0.98, "recall@100": 1.0, "mrr@10": 0.902611},
    "hybrid": {"ndcg@10": 0.927438, "recall@10": 0.986667, "recall@100": 1.0, "mrr@10": 0.911915},
}


def _examples(name: str) -> RagConfig:
    return load_config(ROOT / "examples" / f"{name}.yaml")


def _assert_pinned(name: str, report: EvalReport) -> None:
    measured = {metric: round(report.metrics[metric], 6) for metric in PINS[name]}
    off = {
        metric: (value, PINS[name][metric])
        for metric, value in measured.items()
        if abs(value - PINS[name][metric]) > TOLERANCE
    }
    assert not off, f"{name}: (measured, pinned) beyond ±{TOLERANCE}: {off}; all: {measured}"


@pytest.fixture(scope="module")
def scifact() -> Path:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {SCIFACT} (see ../shared/datasets/README.md)")
    return SCIFACT


def write_judged_slice(source: Path, target: Path, claims: int = SLICE_CLAIMS) -> Path:
    """SciFact's first `claims` test claims over the documents they judge, as a BEIR folder."""
    qrels = dict(list(load_qrels(source, "test").items())[:claims])
    judged = {doc for docs in qrels.values() for doc in docs}
    target.mkdir(parents=True, exist_ok=True)
    with (source / "corpus.jsonl").open(encoding="utf-8") as lines:
        corpus = [line for line in lines if str(json.loads(line)["_id"]) in judged]
    (target / "corpus.jsonl").write_text("".join(corpus), encoding="utf-8")
    queries = load_queries(source)
    (target / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in qrels),
        encoding="utf-8",
    )
    (target / "qrels").mkdir(exist_ok=True)
    rows = "".join(f"{q}\t{d}\t{s}\n" for q, docs in qrels.items() for d, s in docs.items())
    (target / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return target


@pytest.fixture(scope="module")
def judged_slice(scifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_judged_slice(scifact, tmp_path_factory.mktemp("scifact-judged"))
    assert sum(1 for _ in (folder / "corpus.jsonl").open()) == SLICE_DOCUMENTS
    return folder


@pytest.fixture(scope="module")
def slice_index(judged_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slice indexed once by examples/hybrid.yaml (BM25 + late-chunked MiniLM)."""
    index_dir = tmp_path_factory.mktemp("scifact-judged-index") / "index"
    RAG(_examples("hybrid"), index_dir).index([judged_slice])
    return index_dir


def test_bm25_scifact_test_split_is_pinned(scifact: Path, tmp_path: Path) -> None:
    report = evaluate_beir(_examples("bm25"), scifact, index_dir=tmp_path / "index", depth=DEPTH)
    assert (report.queries, report.documents) == (300, 5183)
    _assert_pinned("bm25", report)


def test_hybrid_on_the_judged_slice_is_pinned(judged_slice: Path, slice_index: Path) -> None:
    report = evaluate_beir(_examples("hybrid"), judged_slice, index_dir=slice_index, depth=DEPTH)
    assert report.index_reused and report.queries == SLICE_CLAIMS
    _assert_pinned("hybrid", report)


def test_dense_on_the_judged_slice_is_pinned(judged_slice: Path, slice_index: Path) -> None:
    dense, hybrid = _examples("late-chunking"), _examples("hybrid")
    # The hybrid index's dense half is late-chunking's indexing, stage for stage.
    stages = hybrid.indexing.to_dict()["components"]
    for name, spec in dense.indexing.to_dict()["components"].items():
        same = {"chunker": "sentence_chunker", "writer": "dense_writer"}.get(name, name)
        assert stages[same] == spec, name
    dense.indexing = hybrid.indexing
    report = evaluate_beir(dense, judged_slice, index_dir=slice_index, depth=DEPTH)
    assert report.index_reused and report.queries == SLICE_CLAIMS
    _assert_pinned("dense", report)
