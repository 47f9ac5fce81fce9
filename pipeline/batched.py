"""Many runs of one pipeline walked together: a batch-capable stage runs once for all of them.

`RAG.query_batch` and `ragloom eval` ask one query pipeline many questions. Run one by one,
the query encoder and the reranker pay one forward pass per question; walked together, each
stage runs for every question before its receivers do, so a `BatchRunner` stage (query
encoders, rerankers) gets all the questions' calls in one `run_batch` (one forward pass per
`batch_size`) and the other stages run per question. Independent stages (BM25 and the dense
branch) still run at the same time, on threads, as on the LocalExecutor.

What each stage receives, when it is skipped, how it runs and what a run returns are the
`ExecutionPlan`'s (`gather`, `run_batch`, `collect`): each run's outputs are what `Pipeline.run`
returns for it. A run that fails (a required stage failed, or its inputs are refused) gets its
exception in place of a result and leaves the walk; the others go on.

Example::

    results = run_many(pipeline, [{"query": "What is BM25?"}, {"query": "What is RRF?"}])
    hits = [r.outputs["hits"] for r in results if not isinstance(r, Exception)]
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from ragloom.errors import ComponentRunError, RagloomError
from ragloom.pipeline.executor_config import executor_kind
from ragloom.pipeline.local import LocalExecutor, record_optional_failure
from ragloom.pipeline.plan import ExecutionPlan, Step, gather, run_batch
from ragloom.pipeline.result import PipelineResult

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline

#: Each run's result, or why it failed, in the order of the runs.
Outcome = PipelineResult | RagloomError


def run_many(pipeline: Pipeline, runs: Sequence[Mapping[str, Any]]) -> list[Outcome]:
    """Run `pipeline` on each of `runs` (its named inputs), batch-capable stages once for all
    (see the module docstring). A pipeline on the Ray executor runs them one by one."""
    if executor_kind(pipeline.executor) != "local":
        return [_one(pipeline, dict(inputs)) for inputs in runs]
    plan = ExecutionPlan.of(pipeline)
    walk = _Walk(plan, len(runs))
    for i, inputs in enumerate(runs):
        try:
            plan.check_inputs(inputs)
        except RagloomError as exc:
            walk.failed[i] = exc
    if len(walk.failed) < len(runs):
        pipeline.warm_up()
    workers = LocalExecutor.from_config(pipeline.executor).max_workers
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        walk.run(pipeline, runs, pool)
    total = time.perf_counter() - start
    outcomes: list[Outcome] = []
    for i in range(len(runs)):
        if i in walk.failed:
            outcomes.append(walk.failed[i])
            continue
        timings = {**walk.timings[i], "total": total}
        outcomes.append(PipelineResult(plan.collect(walk.produced[i]), timings, walk.errors[i]))
    return outcomes


def _one(pipeline: Pipeline, inputs: dict[str, Any]) -> Outcome:
    try:
        return pipeline.run(inputs)
    except RagloomError as exc:
        return exc


class _Walk:
    """The state of a walk: what each run's stages produced, timings, errors, failed runs."""

    def __init__(self, plan: ExecutionPlan, runs: int):
        self.plan = plan
        self.produced: list[dict[str, dict[str, Any] | None]] = [{} for _ in range(runs)]
        self.timings: list[dict[str, float]] = [{} for _ in range(runs)]
        self.errors: list[dict[str, ComponentRunError]] = [{} for _ in range(runs)]
        self.failed: dict[int, RagloomError] = {}

    def run(
        self, pipeline: Pipeline, runs: Sequence[Mapping[str, Any]], pool: ThreadPoolExecutor
    ) -> None:
        """Each stage as soon as its senders have finished for every run; stages with no
        path between them at the same time, each on its own thread."""
        plan = self.plan
        finished: set[str] = set()
        started: set[str] = set()
        running: dict[Future[None], str] = {}
        while len(finished) < len(plan.order):
            for name in plan.order:
                step = plan.steps[name]
                if name not in started and set(step.senders) <= finished:
                    started.add(name)
                    live = [i for i in range(len(runs)) if i not in self.failed]
                    calls = self._gather(step, runs, live)
                    task = pool.submit(self._stage, step, pipeline, calls)
                    running[task] = name
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for task in done:
                task.result()  # only a bug in the walk itself raises here
                finished.add(running.pop(task))

    def _gather(
        self, step: Step, runs: Sequence[Mapping[str, Any]], live: list[int]
    ) -> list[tuple[int, dict[str, Any]]]:
        """(run, keyword arguments) of each live run that can run `step`; the plan's `gather`
        decides, and a run it refuses records the stage as failed (optional) or fails."""
        calls = []
        for i in live:
            try:
                calls.append((i, gather(step, runs[i], self.produced[i])))
            except ComponentRunError as exc:
                self._failed(step, i, exc)
        return calls

    def _stage(
        self, step: Step, pipeline: Pipeline, calls: list[tuple[int, dict[str, Any]]]
    ) -> None:
        """Run one stage for `calls`: one `run_batch` (per call unless it is a BatchRunner)."""
        if not calls:
            return
        component = pipeline.components[step.name]
        results = run_batch(step, component, [kwargs for _, kwargs in calls])
        for (i, _), result in zip(calls, results, strict=True):
            if isinstance(result, ComponentRunError):
                self._failed(step, i, result)
            else:
                self.produced[i][step.name], self.timings[i][step.name] = result

    def _failed(self, step: Step, run: int, error: ComponentRunError) -> None:
        """An optional stage's failure is recorded and its receivers go on without it; any
        other ends that run."""
        if step.optional:
            self.produced[run][step.name] = None
            self.errors[run][step.name] = record_optional_failure(step.name, error)
        else:
            self.failed[run] = error
