"""`Coalescer`: calls of one stage from many threads meet in one `run_batch`.

The first call runs alone and is held inside the stage until the others have queued behind
it (a condition on the queue, not a sleep), so the second batch must hold all of them.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ragloom.component import Component, output_types
from ragloom.errors import ComponentRunError
from ragloom.pipeline.coalesce import Coalescer
from ragloom.pipeline.graph import Pipeline
from ragloom.pipeline.local import LocalExecutor
from ragloom.pipeline.plan import ExecutionPlan, Step


class HeldUpper(Component):
    """Upper-cases text, in batches too; its first single call waits for a release."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[int] = []

    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        if text == "bad":
            raise ValueError("bad text")
        assert self.release.wait(60), "the test never released the first call"
        return {"text": text.upper()}

    def run_batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append(len(calls))
        if any(call["text"] == "bad" for call in calls):
            raise ValueError("a bad text in the batch")
        return [{"text": call["text"].upper()} for call in calls]


def _pipeline(stage: Component) -> Pipeline:
    pipe = Pipeline()
    pipe.add("upper", stage)
    pipe.add_input("text", "upper.text")
    pipe.add_output("text", "upper.text")
    return pipe


def _step(pipe: Pipeline) -> Step:
    return ExecutionPlan.of(pipe).steps["upper"]


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "condition not met within 60 s"
        time.sleep(0.005)


def test_calls_arriving_during_a_run_share_the_next_batch() -> None:
    stage = HeldUpper()
    pipe = _pipeline(stage)
    step, coalescer = _step(pipe), Coalescer(stage, max_batch=8)
    texts = ["a", "b", "c", "d", "e"]
    with ThreadPoolExecutor(len(texts)) as pool:
        first = pool.submit(coalescer, step, stage, {"text": texts[0]})
        _wait_for(lambda: coalescer._running)
        rest = [pool.submit(coalescer, step, stage, {"text": t}) for t in texts[1:]]
        _wait_for(lambda: len(coalescer._queue) == len(texts) - 1)
        stage.release.set()
        outputs = [first.result()[0]["text"]] + [f.result()[0]["text"] for f in rest]
    assert outputs == [t.upper() for t in texts]
    assert coalescer.batch_sizes == [1, 4]
    assert stage.batches == [4]


def test_max_batch_splits_the_queue() -> None:
    stage = HeldUpper()
    pipe = _pipeline(stage)
    step, coalescer = _step(pipe), Coalescer(stage, max_batch=2)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(coalescer, step, stage, {"text": "x"})
        _wait_for(lambda: coalescer._running)
        rest = [pool.submit(coalescer, step, stage, {"text": t}) for t in "pqrst"]
        _wait_for(lambda: len(coalescer._queue) == 5)
        stage.release.set()
        assert [f.result()[0]["text"] for f in [first, *rest]] == ["X", "P", "Q", "R", "S", "T"]
    assert coalescer.batch_sizes == [1, 2, 2, 1]


def test_a_bad_call_fails_only_itself() -> None:
    stage = HeldUpper()
    stage.release.set()
    pipe = _pipeline(stage)
    step, coalescer = _step(pipe), Coalescer(stage)
    with pytest.raises(ComponentRunError, match="bad text"):
        coalescer(step, stage, {"text": "bad"})
    assert coalescer(step, stage, {"text": "ok"})[0] == {"text": "OK"}


def test_a_local_executor_runs_the_stage_through_it() -> None:
    stage = HeldUpper()
    stage.release.set()
    pipe = _pipeline(stage)
    coalescer = Coalescer(stage)
    pipe.runner = LocalExecutor(remote={"upper": coalescer})
    assert pipe.run({"text": "hi"}).outputs["text"] == "HI"
    assert coalescer.batch_sizes == [1]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch must be at least 1, got 0"):
        Coalescer(HeldUpper(), max_batch=0)
