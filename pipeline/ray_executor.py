"""The Ray executor: every stage a warmed-up actor (or a pool of replicas), the DAG chained refs.

The graph stays ragloom's own (no `ray.dag`). Each run submits every stage at once, passing the
upstream stages' output ObjectRefs straight into the downstream actor call, so Ray starts a
stage as soon as its inputs exist and independent branches (BM25 and dense) run in parallel.
The driver fetches only each stage's run time and the pipeline's outputs, every `ray.get` with
a timeout. Actors are created on the first run and reused until `close()`.

Example::

    pipe = Pipeline.from_yaml("examples/prompt-pipeline.yaml")   # or built in Python
    pipe.executor = {"type": "ray", "stages": {"default": {"num_cpus": 0.5}}}
    result = pipe.run({"query": "What is BM25?"})   # starts or joins Ray, creates the actors
    print(result.timings)                           # seconds per stage, and "total"
    pipe.close()                                    # kills the actors
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ragloom.errors import ComponentRunError
from ragloom.pipeline.plan import ExecutionPlan, Step
from ragloom.pipeline.ray_actors import Failure, StageActor, StageFailed
from ragloom.pipeline.ray_config import (
    RayExecutorConfig,
    StagePlan,
    parse_ray_executor,
)
from ragloom.pipeline.ray_resources import check_resources, ensure_ray
from ragloom.pipeline.result import PipelineResult

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline

logger = logging.getLogger(__name__)


class ReplicaPool:
    """The replicas of one stage; each call goes to the least busy (or the next) replica."""

    def __init__(self, stage: str, actors: list[Any], dispatch: str):
        self.stage = stage
        self.actors = actors
        self.dispatch = dispatch
        self.dispatched = [0] * len(actors)
        self._in_flight: list[list[Any]] = [[] for _ in actors]
        self._next = 0
        self._lock = threading.Lock()

    def _pick(self) -> int:
        import ray

        count = len(self.actors)
        start = self._next
        self._next = (self._next + 1) % count
        if count == 1 or self.dispatch == "round_robin":
            return start
        for index, refs in enumerate(self._in_flight):
            if refs:
                _, pending = ray.wait(refs, num_returns=len(refs), timeout=0)
                self._in_flight[index] = pending
        order = [(start + offset) % count for offset in range(count)]
        return min(order, key=lambda index: len(self._in_flight[index]))

    def submit(self, step: Step, inputs: dict[str, Any], upstream: list[Any]) -> tuple[Any, Any]:
        """Start one run of the stage; returns (outputs ref, seconds ref)."""
        with self._lock:
            index = self._pick()
            call = self.actors[index].run.options(num_returns=2)
            outputs, seconds = call.remote(step, inputs, *upstream)
            self._in_flight[index].append(seconds)
            self.dispatched[index] += 1
        return outputs, seconds


class RayExecutor:
    """Runs a pipeline on Ray; create it with `from_config(pipeline.executor)`."""

    def __init__(self, config: RayExecutorConfig):
        self.config = config
        self.pools: dict[str, ReplicaPool] = {}
        self._labels: dict[str, str] = {}
        self._signature: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> RayExecutor:
        return cls(parse_ray_executor(block))

    # -- actors -----------------------------------------------------------------------------

    @staticmethod
    def _signature_of(pipeline: Pipeline) -> Any:
        index_dir = str(pipeline.resolved_index_dir().resolve())
        specs = tuple(
            (name, type(c), json.dumps(c.to_dict(), sort_keys=True, default=str))
            for name, c in pipeline.components.items()
        )
        return index_dir, specs

    def plans(self, pipeline: Pipeline) -> dict[str, StagePlan]:
        """Each stage's resources and fault-tolerance settings (the stage names under `stages:`
        were checked with the block: `ragloom.pipeline.executor_config`)."""
        return {name: self.config.stage(name) for name in pipeline.components}

    def start(self, pipeline: Pipeline) -> None:
        """Create and warm up the actors for `pipeline` (again only if its stages changed)."""
        with self._lock:
            signature = self._signature_of(pipeline)
            if self.pools and signature == self._signature:
                return
            self._close_actors()
            plans = self.plans(pipeline)
            ensure_ray(self.config)
            if self.config.check_resources:
                check_resources(plans)
            self._create(pipeline, plans, signature[0])
            self._signature = signature

    def _create(self, pipeline: Pipeline, plans: dict[str, StagePlan], index_dir: str) -> None:
        """Start every stage's actors, then wait (ready_timeout_s) until all are warm."""
        import ray

        actor_class = ray.remote(StageActor)
        try:
            for name, component in pipeline.components.items():
                plan, cls, spec = plans[name], type(component), component.to_dict()
                self._labels[name] = cls.label()
                actors = [
                    actor_class.options(**plan.actor_options()).remote(name, cls, spec, index_dir)
                    for _ in range(plan.replicas)
                ]
                self.pools[name] = ReplicaPool(name, actors, self.config.dispatch)
            deadline = time.monotonic() + self.config.ready_timeout_s
            for name, pool in self.pools.items():
                for ref in [actor.ready.remote() for actor in pool.actors]:
                    self._fetch(name, ref, deadline, "start (warm up)")
        except BaseException:
            self._close_actors()
            raise

    def close(self) -> None:
        """Kill this executor's actors; the next run creates them again."""
        with self._lock:
            self._close_actors()

    def _close_actors(self) -> None:
        pools, self.pools, self._signature = self.pools, {}, None
        if not pools:
            return
        import ray

        if not ray.is_initialized():
            return
        for pool in pools.values():
            for actor in pool.actors:
                ray.kill(actor, no_restart=True)

    # -- running ----------------------------------------------------------------------------

    def run(self, pipeline: Pipeline, inputs: dict[str, Any]) -> PipelineResult:
        """Run the pipeline once on Ray; same outputs and timings shape as LocalExecutor."""
        plan = ExecutionPlan.of(pipeline)
        plan.check_inputs(inputs)
        self.start(pipeline)
        total_start = time.perf_counter()
        outputs: dict[str, Any] = {}
        seconds: dict[str, Any] = {}
        for name in plan.order:
            step = plan.steps[name]
            upstream = [outputs[sender] for sender in step.senders]
            mine = {key: inputs[key] for key in step.inputs if key in inputs}
            outputs[name], seconds[name] = self.pools[name].submit(step, mine, upstream)
        deadline = time.monotonic() + self.config.timeout_s
        timings: dict[str, float] = {}
        errors: dict[str, ComponentRunError] = {}  # optional stages that failed or were skipped
        for name in plan.order:
            took = self._fetch(name, seconds[name], deadline)
            if not isinstance(took, Failure):
                timings[name] = float(took)
                continue
            failed = took.error
            error = ComponentRunError(failed.stage, failed.component_type, failed.error)
            if not took.optional:  # the first in topological order is where it started
                raise error from failed.error
            errors[name] = error
            logger.warning("optional stage %r failed; the run goes on without it: %s", name, error)
        final = plan.final_stages() - errors.keys()
        produced = {
            name: self._fetch(name, outputs[name], deadline) for name in plan.order if name in final
        }
        timings["total"] = time.perf_counter() - total_start
        return PipelineResult(plan.collect(produced), timings, errors)

    def _fetch(self, name: str, ref: Any, deadline: float, doing: str = "run") -> Any:
        """`ray.get` with what is left of the deadline; failures name the stage."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

        label = self._labels.get(name, "?")
        try:
            return ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
        except GetTimeoutError:
            limit = "ready_timeout_s" if doing != "run" else "timeout_s"
            seconds = getattr(self.config, limit)
            hint = (
                " (its actor may be waiting for resources the cluster cannot give)"
                if doing != "run"
                else ""
            )
            error = TimeoutError(f"did not {doing} within {limit}={seconds:g} s{hint}")
            raise ComponentRunError(name, label, error) from None
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, StageFailed):
                raise ComponentRunError(cause.stage, cause.component_type, cause.error) from None
            raise ComponentRunError(name, label, cause or exc) from None
        except RayActorError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, RayTaskError) and isinstance(cause.cause, StageFailed):
                failed = cause.cause
                raise ComponentRunError(failed.stage, failed.component_type, failed.error) from None
            raise ComponentRunError(name, label, exc) from None
        except RayError as exc:
            raise ComponentRunError(name, label, exc) from None
