"""`run_many`: many runs of one pipeline walked together, a BatchRunner stage once for all.

Each run's outputs are what `Pipeline.run` returns for it; a run that fails gets its error in
its place and the others go on; an optional stage's failure is recorded per run.
"""

from __future__ import annotations

import pytest

from ragloom.errors import ComponentRunError, PipelineValidationError
from ragloom.pipeline.batched import run_many
from ragloom.pipeline.graph import Pipeline
from ragloom.pipeline.result import PipelineResult
from ragloom.retrievers.fusion import ScoreFusion
from tests.unit.components_for_tests import Fail, FixedHits, Join, Upper
from tests.unit.test_run_batch import BatchUpper


def _chain(batched: BatchUpper) -> Pipeline:
    """text -> batched upper -> (plain upper, and a join of both): a diamond."""
    pipe = Pipeline()
    pipe.add("batched", batched)
    pipe.add("plain", Upper(suffix="!"))
    pipe.add("join", Join(separator="+"))
    pipe.connect("batched.text", "plain.text")
    pipe.connect("batched.text", "join.parts")
    pipe.connect("plain.text", "join.parts")
    pipe.add_input("text", "batched.text")
    pipe.add_output("text", "join.text")
    return pipe


def test_a_batch_runner_runs_once_for_every_run_and_results_match_run() -> None:
    stage = BatchUpper()
    pipe = _chain(stage)
    runs = [{"text": t} for t in ("a", "bb", "ccc")]
    results = run_many(pipe, runs)
    assert stage.batches == [3] and stage.single == 0
    for inputs, result in zip(runs, results, strict=True):
        assert isinstance(result, PipelineResult)
        assert result.outputs == pipe.run(inputs).outputs
        assert {"batched", "plain", "join", "total"} <= set(result.timings)
    assert results[1]["text"] == "BB+BB!"


def test_a_failing_run_gets_its_error_and_the_others_go_on() -> None:
    stage = BatchUpper()
    pipe = _chain(stage)
    results = run_many(pipe, [{"text": "a"}, {"text": "bad"}, {"nope": "c"}, {"text": "d"}])
    assert isinstance(results[0], PipelineResult) and results[0]["text"] == "A+A!"
    assert isinstance(results[1], ComponentRunError) and results[1].stage == "batched"
    assert isinstance(results[2], PipelineValidationError)  # refused before anything ran
    assert isinstance(results[3], PipelineResult) and results[3]["text"] == "D+D!"
    # The batch of the three valid runs failed on "bad": each ran alone, only it failed.
    assert stage.batches == [3] and stage.single == 3


def test_an_optional_stage_failing_is_recorded_per_run() -> None:
    pipe = Pipeline()
    pipe.add("bm25", Fail("index offline"), optional=True)
    pipe.add("dense", FixedHits(source="dense", ids=["a", "b"]))
    pipe.add("fusion", ScoreFusion(method="minmax"))
    pipe.connect("bm25.hits", "fusion.hits")
    pipe.connect("dense.hits", "fusion.hits")
    pipe.add_input("query", "bm25.query", "dense.query")
    pipe.add_output("hits", "fusion.hits")
    results = run_many(pipe, [{"query": "q1"}, {"query": "q2"}])
    for result in results:
        assert isinstance(result, PipelineResult)
        assert [h.chunk.id for h in result["hits"]] == ["a", "b"]
        assert list(result.errors) == ["bm25"]
        assert result.outputs == pipe.run({"query": "q"}).outputs


def test_no_runs_is_no_results() -> None:
    assert run_many(_chain(BatchUpper()), []) == []


@pytest.mark.parametrize("size", [1, 2])
def test_one_or_two_runs(size: int) -> None:
    stage = BatchUpper()
    results = run_many(_chain(stage), [{"text": "x"}] * size)
    assert [r["text"] for r in results if isinstance(r, PipelineResult)] == ["X+X!"] * size
