"""The in-process executor: runs a validated DAG with a thread pool, timing every stage.

A failing stage fails the run with a ComponentRunError naming it, unless the stage is
optional: then the failure is logged, recorded in `PipelineResult.errors`, and its receivers
run without it (see `ragloom.pipeline.graph`).
"""

from __future__ import annotations

import contextvars
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragloom.errors import ComponentRunError, PipelineValidationError, Problem

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline, PipelineResult

logger = logging.getLogger(__name__)


@dataclass
class LocalExecutor:
    """Runs each stage as soon as all of its senders have finished; branches run in parallel."""

    max_workers: int = 4

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LocalExecutor:
        return cls(max_workers=int(config.get("max_workers", 4)))

    def run(self, pipeline: Pipeline, inputs: dict[str, Any]) -> PipelineResult:
        from ragloom.pipeline.graph import PipelineResult

        pipeline.validate()
        self._check_inputs(pipeline, inputs)
        pipeline.warm_up()
        order = pipeline.topological_order()
        produced: dict[str, dict[str, Any]] = {}
        errors: dict[str, ComponentRunError] = {}  # optional stages that failed or were skipped
        timings: dict[str, float] = {}
        waiting = {name: pipeline.predecessors(name) for name in order}
        started: set[str] = set()
        running: dict[Future[tuple[dict[str, Any], float]], str] = {}
        total_start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, self.max_workers)) as pool:
            while len(produced) + len(errors) < len(order):
                for name in order:
                    if name in started or not waiting[name] <= produced.keys() | errors.keys():
                        continue
                    started.add(name)
                    unfed = self._unfed(pipeline, name, errors)
                    if unfed is not None:  # validation guarantees `name` is optional here
                        errors[name] = _record(pipeline, name, unfed)
                        continue
                    kwargs = self._gather(pipeline, name, inputs, produced)
                    context = contextvars.copy_context()  # e.g. the streaming handler
                    future = pool.submit(context.run, _timed_run, pipeline, name, kwargs)
                    running[future] = name
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    try:
                        outputs, seconds = future.result()
                    except BaseException as exc:
                        if isinstance(exc, ComponentRunError) and name in pipeline.optional:
                            errors[name] = _record(pipeline, name, exc)
                            continue
                        for other in running:
                            other.cancel()
                        raise
                    produced[name] = outputs
                    timings[name] = seconds
        timings["total"] = time.perf_counter() - total_start
        return PipelineResult(self._collect(pipeline, produced), timings, errors)

    @staticmethod
    def _unfed(
        pipeline: Pipeline, name: str, errors: dict[str, ComponentRunError]
    ) -> ComponentRunError | None:
        """Why `name` cannot run: a required single input whose sender failed; else None."""
        cls = type(pipeline.components[name])
        for conn in pipeline.connections:
            if conn.receiver.component != name or conn.sender.component not in errors:
                continue
            socket = cls.input_sockets()[conn.receiver.socket]
            if socket.required and not socket.variadic:
                reason = (
                    f"skipped: required input {socket.name!r} comes from failed "
                    f"stage {conn.sender.component!r}"
                )
                return ComponentRunError(name, cls.label(), RuntimeError(reason))
        return None

    @staticmethod
    def _check_inputs(pipeline: Pipeline, inputs: dict[str, Any]) -> None:
        unknown = sorted(set(inputs) - set(pipeline.inputs))
        missing = sorted(pipeline.required_inputs() - set(inputs))
        problems = []
        if unknown:
            declared = ", ".join(pipeline.inputs) or "(none)"
            problems.append(
                Problem(f"unknown pipeline input(s) {unknown}; the pipeline takes: {declared}")
            )
        if missing:
            problems.append(Problem(f"missing required pipeline input(s): {missing}"))
        if problems:
            raise PipelineValidationError(problems)

    @staticmethod
    def _gather(
        pipeline: Pipeline, name: str, inputs: dict[str, Any], produced: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        sockets = type(pipeline.components[name]).input_sockets()
        kwargs: dict[str, Any] = {}
        for conn in pipeline.connections:
            if conn.receiver.component != name:
                continue
            socket = sockets[conn.receiver.socket]
            if conn.sender.component not in produced:  # a failed optional sender
                if socket.variadic and socket.required:
                    kwargs.setdefault(socket.name, [])  # fewer lists, maybe none
                continue  # an input with a default keeps it
            value = produced[conn.sender.component][conn.sender.socket]
            if socket.variadic:
                kwargs.setdefault(socket.name, []).append(value)
            else:
                kwargs[socket.name] = value
        for input_name, targets in pipeline.inputs.items():
            if input_name not in inputs:
                continue
            for addr in targets:
                if addr.component != name:
                    continue
                if sockets[addr.socket].variadic:
                    kwargs.setdefault(addr.socket, []).append(inputs[input_name])
                else:
                    kwargs[addr.socket] = inputs[input_name]
        return kwargs

    @staticmethod
    def _collect(pipeline: Pipeline, produced: dict[str, dict[str, Any]]) -> dict[str, Any]:
        if pipeline.outputs:  # an output of a failed optional stage is left out
            return {
                name: produced[a.component][a.socket]
                for name, a in pipeline.outputs.items()
                if a.component in produced
            }
        consumed = {(c.sender.component, c.sender.socket) for c in pipeline.connections}
        return {
            f"{comp}.{socket}": value
            for comp, outputs in produced.items()
            for socket, value in outputs.items()
            if (comp, socket) not in consumed
        }


def _record(pipeline: Pipeline, name: str, error: ComponentRunError) -> ComponentRunError:
    """Log an optional stage's failure (its receivers go on without it) and return it."""
    logger.warning("optional stage %r failed; the run goes on without it: %s", name, error)
    return error


def _timed_run(
    pipeline: Pipeline, name: str, kwargs: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    component = pipeline.components[name]
    start = time.perf_counter()
    try:
        outputs = component.run(**kwargs)
    except Exception as exc:
        raise ComponentRunError(name, type(component).label(), exc) from exc
    seconds = time.perf_counter() - start
    declared = type(component).output_sockets()
    if not isinstance(outputs, dict) or not set(declared) <= set(outputs):
        got = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
        raise ComponentRunError(
            name,
            type(component).label(),
            TypeError(f"run() must return a dict with keys {sorted(declared)}, got {got}"),
        )
    return outputs, seconds
