"""The in-process executor: runs a validated DAG with a thread pool, timing every stage."""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragloom.errors import ComponentRunError, PipelineValidationError, Problem

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline, PipelineResult


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
        timings: dict[str, float] = {}
        waiting = {name: pipeline.predecessors(name) for name in order}
        started: set[str] = set()
        running: dict[Future[tuple[dict[str, Any], float]], str] = {}
        total_start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, self.max_workers)) as pool:
            while len(produced) < len(order):
                for name in order:
                    if name not in started and waiting[name] <= produced.keys():
                        started.add(name)
                        kwargs = self._gather(pipeline, name, inputs, produced)
                        context = contextvars.copy_context()  # e.g. the streaming handler
                        future = pool.submit(context.run, _timed_run, pipeline, name, kwargs)
                        running[future] = name
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    try:
                        outputs, seconds = future.result()
                    except BaseException:
                        for other in running:
                            other.cancel()
                        raise
                    produced[name] = outputs
                    timings[name] = seconds
        timings["total"] = time.perf_counter() - total_start
        return PipelineResult(self._collect(pipeline, produced), timings)

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
            value = produced[conn.sender.component][conn.sender.socket]
            if sockets[conn.receiver.socket].variadic:
                kwargs.setdefault(conn.receiver.socket, []).append(value)
            else:
                kwargs[conn.receiver.socket] = value
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
        if pipeline.outputs:
            return {name: produced[a.component][a.socket] for name, a in pipeline.outputs.items()}
        consumed = {(c.sender.component, c.sender.socket) for c in pipeline.connections}
        return {
            f"{comp}.{socket}": value
            for comp, outputs in produced.items()
            for socket, value in outputs.items()
            if (comp, socket) not in consumed
        }


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
