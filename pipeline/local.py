"""The in-process executor: runs a validated DAG with a thread pool, timing every stage.

A failing stage fails the run with a ComponentRunError naming it, unless the stage is
optional: then the failure is logged, recorded in `PipelineResult.errors`, and its receivers
run without it (see `ragloom.pipeline.graph`). What runs with what is the pipeline's
`ExecutionPlan` (`ragloom.pipeline.plan`); this module only decides that it runs on threads,
and, for the stages named in `remote`, that another runner runs them (a Ray Serve ingress calls
their deployments: `ragloom.server.serve_stages`).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragloom.component import Component
from ragloom.errors import ComponentRunError
from ragloom.pipeline.plan import ExecutionPlan, Step, gather, run_step
from ragloom.pipeline.result import PipelineResult

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline

logger = logging.getLogger(__name__)


#: Runs one stage elsewhere, as `run_step` would here: (outputs, seconds) or ComponentRunError.
StageRunner = Callable[[Step, Component, dict[str, Any]], tuple[dict[str, Any], float]]


@dataclass
class LocalExecutor:
    """Runs each stage as soon as all of its senders have finished; branches run in parallel."""

    max_workers: int = 4
    #: Stages that run elsewhere (Ray Serve deployments): name -> what runs it instead of
    #: `run_step`, on this executor's thread; their components stay cold in this process.
    remote: Mapping[str, StageRunner] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LocalExecutor:
        return cls(max_workers=int(config.get("max_workers", 4)))

    def run(self, pipeline: Pipeline, inputs: dict[str, Any]) -> PipelineResult:
        plan = ExecutionPlan.of(pipeline)
        plan.check_inputs(inputs)
        pipeline.warm_up(skip=self.remote.keys())
        return _Run(self, pipeline, plan, inputs).finish()


class _Run:
    """One run's bookkeeping. The calling thread runs one ready stage itself and hands any
    other ready stage to the process's branch pool, so a chain of stages never changes thread
    and a run starts no thread of its own (threads cost about a millisecond each to start)."""

    def __init__(
        self,
        executor: LocalExecutor,
        pipeline: Pipeline,
        plan: ExecutionPlan,
        inputs: dict[str, Any],
    ):
        self.executor, self.pipeline, self.plan, self.inputs = executor, pipeline, plan, inputs
        self.produced: dict[str, dict[str, Any] | None] = {}  # None: an optional stage failed
        self.errors: dict[str, ComponentRunError] = {}
        self.timings: dict[str, float] = {}
        self.waiting = {name: set(plan.steps[name].senders) for name in plan.order}
        self.started: set[str] = set()
        self.running: dict[Future[tuple[dict[str, Any], float]], str] = {}

    def finish(self) -> PipelineResult:
        total_start = time.perf_counter()
        try:
            while len(self.produced) < len(self.plan.order):
                self._step()
        except BaseException:
            for future in self.running:
                future.cancel()
            wait(self.running)  # siblings still running finish before the error is raised
            raise
        self.timings["total"] = time.perf_counter() - total_start
        return PipelineResult(self.plan.collect(self.produced), self.timings, self.errors)

    def _step(self) -> None:
        """Start what is ready (one stage here, the rest on the branch pool, at most
        `max_workers` at once), then settle what has finished."""
        ready = [
            name
            for name in self.plan.order
            if name not in self.started and self.waiting[name] <= self.produced.keys()
        ]
        free = max(1, self.executor.max_workers) - len(self.running)
        mine: tuple[str, dict[str, Any]] | None = None
        for name in ready[: max(free, 0)]:
            self.started.add(name)
            kwargs = self._gather(name)
            if kwargs is None:
                continue
            if mine is None:
                mine = (name, kwargs)
                continue
            call = functools.partial(self._runner(name), *self._call(name, kwargs))
            future = branch_pool().submit(contextvars.copy_context().run, call)  # e.g. streaming
            self.running[future] = name
        if mine is not None:
            name, kwargs = mine
            self._settle(name, functools.partial(self._runner(name), *self._call(name, kwargs)))
            finished = [future for future in self.running if future.done()]
        elif self.running:
            finished = list(wait(self.running, return_when=FIRST_COMPLETED)[0])
        else:
            finished = []
        for future in finished:
            self._settle(self.running.pop(future), future.result)

    def _gather(self, name: str) -> dict[str, Any] | None:
        """A stage's inputs, or None when it cannot run for want of an optional sender (it is
        then settled as failed)."""
        try:
            return gather(self.plan.steps[name], self.inputs, self.produced)
        except ComponentRunError as exc:  # validation: only an optional stage
            self.produced[name], self.errors[name] = None, record_optional_failure(name, exc)
            return None

    def _runner(self, name: str) -> StageRunner:
        return self.executor.remote.get(name, run_step)

    def _call(self, name: str, kwargs: dict[str, Any]) -> tuple[Step, Component, dict[str, Any]]:
        return self.plan.steps[name], self.pipeline.components[name], kwargs

    def _settle(self, name: str, result: Callable[[], tuple[dict[str, Any], float]]) -> None:
        """Record a finished stage's outputs, or its failure (kept if optional, else raised)."""
        try:
            outputs, seconds = result()
        except ComponentRunError as exc:
            if not self.plan.steps[name].optional:
                raise
            self.produced[name], self.errors[name] = None, record_optional_failure(name, exc)
            return
        self.produced[name] = outputs
        self.timings[name] = seconds


_branch_pool: ThreadPoolExecutor | None = None
_branch_pool_lock = threading.Lock()


def branch_pool() -> ThreadPoolExecutor:
    """The process's threads for parallel branches, started on demand and kept between runs.
    Its size only bounds threads: each run keeps to its own `max_workers`."""
    global _branch_pool
    with _branch_pool_lock:
        if _branch_pool is None:
            _branch_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="ragloom-stage")
        return _branch_pool


def record_optional_failure(name: str, error: ComponentRunError) -> ComponentRunError:
    """Log an optional stage's failure (its receivers go on without it) and return it."""
    logger.warning("optional stage %r failed; the run goes on without it: %s", name, error)
    return error
