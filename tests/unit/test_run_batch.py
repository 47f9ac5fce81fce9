"""`run_batch`: one stage run for many calls (what Ray Serve's `@serve.batch` deployments use).

A BatchRunner stage runs the batch in one call and each output is checked as `run_step`
checks it; any other stage, or a batch call that fails, runs each call alone, so a bad call
fails only itself. The query encoders are BatchRunners and embed a batch as they embed one.
"""

from __future__ import annotations

from typing import Any

import pytest

from ragloom.chunking.hashing import HashingQueryEncoder
from ragloom.component import Component, output_types
from ragloom.errors import ComponentRunError
from ragloom.pipeline.graph import Pipeline
from ragloom.pipeline.plan import ExecutionPlan, run_batch, run_step
from ragloom.roles import BatchRunner


class Upper(Component):
    """Upper-cases its text; fails on "bad"; counts how it was called."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.single = 0

    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        self.single += 1
        if text == "bad":
            raise ValueError("bad text")
        return {"text": text.upper()}


class BatchUpper(Upper):
    """Upper, with a batch call; its batch call drops the output of "short"."""

    def run_batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append(len(calls))
        if any(call["text"] == "bad" for call in calls):
            raise ValueError("a bad text in the batch")
        return [{} if c["text"] == "short" else {"text": c["text"].upper()} for c in calls]


def _step(component: Component) -> Any:
    pipe = Pipeline()
    pipe.add("upper", component)
    pipe.add_input("text", "upper.text")
    return ExecutionPlan.of(pipe).steps["upper"]


def _texts(results: list[Any]) -> list[Any]:
    return [r[0]["text"] if isinstance(r, tuple) else type(r).__name__ for r in results]


def test_a_batch_runner_runs_the_batch_in_one_call() -> None:
    stage = BatchUpper()
    assert isinstance(stage, BatchRunner)
    results = run_batch(_step(stage), stage, [{"text": "a"}, {"text": "b"}, {"text": "c"}])
    assert _texts(results) == ["A", "B", "C"]
    assert (stage.batches, stage.single) == ([3], 0)


def test_outputs_are_checked_per_call() -> None:
    stage = BatchUpper()
    results = run_batch(_step(stage), stage, [{"text": "a"}, {"text": "short"}])
    assert _texts(results) == ["A", "ComponentRunError"]
    assert "must return a dict with keys ['text']" in str(results[1])


def test_a_failed_batch_runs_each_call_alone_and_only_the_bad_one_fails() -> None:
    stage = BatchUpper()
    results = run_batch(_step(stage), stage, [{"text": "a"}, {"text": "bad"}, {"text": "c"}])
    assert _texts(results) == ["A", "ComponentRunError", "C"]
    error = results[1]
    assert isinstance(error, ComponentRunError) and error.stage == "upper"
    assert (stage.batches, stage.single) == ([3], 3)


def test_any_other_stage_runs_call_by_call() -> None:
    stage = Upper()
    assert not isinstance(stage, BatchRunner)
    results = run_batch(_step(stage), stage, [{"text": "a"}, {"text": "bad"}])
    assert _texts(results) == ["A", "ComponentRunError"]
    assert stage.single == 2


@pytest.mark.parametrize("dimension", [16, 64])
def test_the_query_encoder_embeds_a_batch_as_it_embeds_one(dimension: int) -> None:
    encoder = HashingQueryEncoder(dimension=dimension)
    pipe = Pipeline()
    pipe.add("encoder", encoder)
    pipe.add_input("query", "encoder.query")
    step = ExecutionPlan.of(pipe).steps["encoder"]
    questions = ["what is bm25", "how does late chunking work", "what is bm25"]
    batched = run_batch(step, encoder, [{"query": q} for q in questions])
    alone = [run_step(step, encoder, {"query": q})[0] for q in questions]
    assert [r[0] for r in batched if isinstance(r, tuple)] == alone
