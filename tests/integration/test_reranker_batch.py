"""The cross-encoder reranker's `run_batch`: many calls' pairs scored in one length-sorted pass,
each call getting what its own `run` returns (tiny reranker trained in conftest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragloom.errors import ComponentRunError
from ragloom.pipeline.coalesce import coalesce_batch_stages
from ragloom.pipeline.graph import Pipeline
from ragloom.pipeline.plan import ExecutionPlan, run_batch
from ragloom.rerank.reranker import CrossEncoderReranker
from ragloom.roles import BatchRunner
from ragloom.types import Hit
from tests.integration.test_reranker import PASSAGES, hits_for

QUERIES = ["what is BM25", "late chunking", "how does fusion combine rankings"]


def calls() -> list[dict]:
    """Calls of several shapes: different queries and hit lists, a repeated chunk, a per-call
    top_k, and no hits at all."""
    hits = hits_for(PASSAGES)
    return [
        {"query": QUERIES[0], "hits": hits},
        {"query": QUERIES[1], "hits": hits[::-1][:4] + hits[:1], "top_k": 2},
        {"query": QUERIES[2], "hits": hits[1:5] + hits[1:2]},
        {"query": QUERIES[0], "hits": []},
        {"query": QUERIES[1], "hits": hits[2:]},
    ]


def assert_same_hits(got: list[Hit], want: list[Hit]) -> None:
    assert [h.chunk.id for h in got] == [h.chunk.id for h in want]
    assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-5)
    assert [h.source_ranks for h in got] == [h.source_ranks for h in want]
    for a, b in zip(got, want, strict=True):
        assert a.source_scores.keys() == b.source_scores.keys()
        scores = zip(a.source_scores.values(), b.source_scores.values(), strict=True)
        assert all(abs(x - y) < 1e-5 for x, y in scores)


@pytest.mark.parametrize(
    "settings",
    [
        {"top_k": 10, "depth": 100},
        {"top_k": 4, "depth": 3},  # an unscored rest after the reranked hits
        {"top_k": 10, "threshold": 0.0},
        {"top_k": 5, "retrieval_weight": 0.6, "max_length": 16},
    ],
)
def test_run_batch_returns_what_run_returns(tiny_reranker: Path, settings: dict) -> None:
    reranker = CrossEncoderReranker(model=str(tiny_reranker), batch_size=4, **settings)
    batched = reranker.run_batch(calls())
    assert len(batched) == len(calls())
    for call, outputs in zip(calls(), batched, strict=True):
        assert_same_hits(outputs["hits"], reranker.run(**call)["hits"])


def test_all_calls_share_one_forward_pass(tiny_reranker: Path) -> None:
    """Pairs of every call are sorted together into batches of `batch_size` pairs, so five
    calls of up to six pairs take one model call per 64 pairs, not one (or more) per call."""
    reranker = CrossEncoderReranker(model=str(tiny_reranker), batch_size=64)
    reranker.warm_up()
    assert reranker._encoder is not None
    forwards: list[int] = []
    hook = reranker._encoder.model.register_forward_hook(
        lambda module, args, kwargs, out: forwards.append(len(kwargs["input_ids"])),
        with_kwargs=True,
    )
    try:
        reranker.run_batch(calls())
    finally:
        hook.remove()
    pairs = sum(min(len({h.chunk.id for h in c["hits"]}), reranker.depth) for c in calls())
    assert forwards == [pairs]


def test_a_bad_call_fails_only_itself(tiny_reranker: Path) -> None:
    reranker = CrossEncoderReranker(model=str(tiny_reranker))
    assert isinstance(reranker, BatchRunner)
    pipeline = Pipeline().add("reranker", reranker)
    pipeline.add_input("query", "reranker.query").add_input("hits", "reranker.hits")
    step = ExecutionPlan.of(pipeline).steps["reranker"]
    good = calls()[:2]
    bad = {"query": QUERIES[0]}  # no hits
    results = run_batch(step, reranker, [good[0], bad, good[1]])
    assert isinstance(results[1], ComponentRunError) and "reranker" in str(results[1])
    for call, result in zip(good, (results[0], results[2]), strict=True):
        assert not isinstance(result, ComponentRunError)
        assert_same_hits(result[0]["hits"], reranker.run(**call)["hits"])


def test_the_local_server_coalesces_rerankers(tiny_reranker: Path) -> None:
    reranker = CrossEncoderReranker(model=str(tiny_reranker))
    pipeline = Pipeline().add("reranker", reranker)
    pipeline.add_input("query", "reranker.query").add_input("hits", "reranker.hits")
    assert set(coalesce_batch_stages([pipeline], max_batch=8)) == {"reranker"}
