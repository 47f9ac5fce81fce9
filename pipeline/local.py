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
import logging
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
        produced: dict[str, dict[str, Any] | None] = {}  # None: an optional stage failed
        errors: dict[str, ComponentRunError] = {}
        timings: dict[str, float] = {}
        waiting = {name: set(plan.steps[name].senders) for name in plan.order}
        started: set[str] = set()
        running: dict[Future[tuple[dict[str, Any], float]], str] = {}
        total_start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, self.max_workers)) as pool:
            while len(produced) < len(plan.order):
                for name in plan.order:
                    if name in started or not waiting[name] <= produced.keys():
                        continue
                    started.add(name)
                    step = plan.steps[name]
                    try:
                        kwargs = gather(step, inputs, produced)
                    except ComponentRunError as exc:  # validation: only an optional stage
                        produced[name], errors[name] = None, record_optional_failure(name, exc)
                        continue
                    context = contextvars.copy_context()  # e.g. the streaming handler
                    component = pipeline.components[name]
                    run = self.remote.get(name, run_step)
                    future = pool.submit(context.run, run, step, component, kwargs)
                    running[future] = name
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    try:
                        outputs, seconds = future.result()
                    except BaseException as exc:
                        if isinstance(exc, ComponentRunError) and plan.steps[name].optional:
                            produced[name], errors[name] = None, record_optional_failure(name, exc)
                            continue
                        for other in running:
                            other.cancel()
                        raise
                    produced[name] = outputs
                    timings[name] = seconds
        timings["total"] = time.perf_counter() - total_start
        return PipelineResult(plan.collect(produced), timings, errors)


def record_optional_failure(name: str, error: ComponentRunError) -> ComponentRunError:
    """Log an optional stage's failure (its receivers go on without it) and return it."""
    logger.warning("optional stage %r failed; the run goes on without it: %s", name, error)
    return error
