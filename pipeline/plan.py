"""The execution plan of a pipeline: what each stage receives, from where, and what a run returns.

Every runner executes the same plan and decides only *where* a stage runs: LocalExecutor on
threads, RayExecutor on one actor (or replica pool) per stage, Ray Data indexing in its writer
actor, Ray Serve in its ingress (a LocalExecutor whose heavy stages run on deployments, many
requests in one `run_batch`). How a stage's inputs are gathered, when a stage is skipped
because a required input comes from a failed optional stage, how a stage is run and its
outputs checked, and which outputs a run returns are written here once, so a change to how
pipelines run is made here.

A plan is plain data (frozen dataclasses of strings and flags): a Ray actor receives its own
`Step` and needs nothing else of the pipeline.

Example::

    plan = ExecutionPlan.of(pipeline)            # validates the pipeline
    plan.check_inputs(inputs)                    # names, then values of constrained sockets
    produced = {}
    for name in plan.order:
        step = plan.steps[name]
        kwargs = gather(step, inputs, produced)  # raises ComponentRunError if it cannot run
        produced[name], seconds = run_step(step, pipeline.components[name], kwargs)
    outputs = plan.collect(produced)
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ragloom.component import Component, InputSocket, check_override
from ragloom.errors import (
    ComponentConfigError,
    ComponentRunError,
    PipelineValidationError,
    Problem,
)
from ragloom.pipeline.sockets import is_constrained
from ragloom.roles import BatchRunner
from ragloom.stored_chunks import read_hits
from ragloom.types import Hit

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline

#: What a runner knows of a finished stage: its outputs, or None when it failed (optional).
Produced = Mapping[str, Mapping[str, Any] | None]


@dataclass(frozen=True)
class Feed:
    """One value into an input socket: an upstream stage's output, or a pipeline input."""

    socket: str
    variadic: bool
    required: bool
    sender: str = ""  # the upstream stage; "" for a pipeline input
    sender_socket: str = ""
    input: str = ""  # the pipeline input's name, for a pipeline input


@dataclass(frozen=True)
class Step:
    """One stage of a plan: its feeds in gathering order, and whether it may fail."""

    name: str
    label: str
    optional: bool
    feeds: tuple[Feed, ...]

    @property
    def senders(self) -> tuple[str, ...]:
        """The upstream stages, each once, in the order of their first feed."""
        return tuple(dict.fromkeys(feed.sender for feed in self.feeds if feed.sender))

    @property
    def inputs(self) -> tuple[str, ...]:
        """The pipeline inputs this stage reads."""
        return tuple(dict.fromkeys(feed.input for feed in self.feeds if feed.input))


@dataclass(frozen=True)
class InputCheck:
    """A pipeline input whose value is checked before a run: it feeds `stage.socket`, whose
    values must fit `type` (see `value_type`)."""

    input: str
    stage: str
    label: str
    socket: str
    type: Any

    def problems(self, value: Any) -> list[Problem]:
        """Nothing if `value` fits, else one one-line Problem per reason, as a parameter's."""
        owner = f"{self.stage} ({self.label})"
        if self.input != self.socket:
            owner = f"pipeline input {self.input!r} into {owner}"
        try:
            check_override(owner, self.socket, self.type, value)
        except ComponentConfigError as exc:
            return [replace(p, component=self.stage) for p in exc.problems]
        return []


def value_type(component: type[Component], socket: InputSocket) -> Any | None:
    """What a pipeline input into `socket` must be, when that is more than its Python type.

    The socket's own type when it carries constraints (e.g. `PositiveInt | None`); else the
    type of the stage's parameter of the same name, when that carries constraints: such an
    input overrides the parameter for one run (a `top_k` input into a stage whose `top_k` is a
    `PositiveInt`), so it must be what the parameter accepts (or None, where the socket's
    default is None). None: nothing beyond the Python type to check.
    """
    if is_constrained(socket.type):
        return socket.type
    parameter = component.init_parameter_specs().get(socket.name)
    if parameter is None or not is_constrained(parameter[0]):
        return None
    if not socket.required and socket.default is None:
        return parameter[0] | None
    return parameter[0]


@dataclass(frozen=True)
class ExecutionPlan:
    """A validated pipeline as the runners need it (see the module docstring)."""

    order: tuple[str, ...]
    steps: Mapping[str, Step]
    inputs: frozenset[str]
    required_inputs: frozenset[str]
    #: Declared outputs as (name, stage, socket); when there are none, a run returns every
    #: output socket nothing consumes, as "stage.socket".
    outputs: tuple[tuple[str, str, str], ...]
    unconsumed: tuple[tuple[str, str], ...]
    #: Pipeline inputs whose values `check_inputs` checks (constrained sockets).
    input_checks: tuple[InputCheck, ...] = ()

    @classmethod
    def of(cls, pipeline: Pipeline) -> ExecutionPlan:
        """The plan of `pipeline`, which is validated first; a pipeline unchanged since its
        last plan gets that plan again (validating costs about half a millisecond a run)."""
        shape = _shape(pipeline)
        with _plans_lock:
            cached = _plans.get(pipeline)
        if cached is not None and cached[0] == shape:
            return cached[1]
        plan = cls._build(pipeline)
        with _plans_lock:
            _plans[pipeline] = (shape, plan)
        return plan

    @classmethod
    def _build(cls, pipeline: Pipeline) -> ExecutionPlan:
        pipeline.validate()
        order = tuple(pipeline.topological_order())
        steps = {name: _step(pipeline, name) for name in order}
        consumed = {(c.sender.component, c.sender.socket) for c in pipeline.connections}
        unconsumed = tuple(
            (name, socket)
            for name in order
            for socket in type(pipeline.components[name]).output_sockets()
            if (name, socket) not in consumed
        )
        return cls(
            order=order,
            steps=steps,
            inputs=frozenset(pipeline.inputs),
            required_inputs=frozenset(pipeline.required_inputs()),
            outputs=tuple((n, a.component, a.socket) for n, a in pipeline.outputs.items()),
            unconsumed=unconsumed,
            input_checks=_input_checks(pipeline),
        )

    def check_inputs(self, inputs: Mapping[str, Any]) -> None:
        """Raise PipelineValidationError for unknown or missing pipeline inputs, then
        ComponentConfigError for a value its socket refuses (a `top_k` of 0), before any stage
        runs: the same one-line error as the same value given as a parameter."""
        unknown = sorted(set(inputs) - self.inputs)
        missing = sorted(self.required_inputs - set(inputs))
        problems = []
        if unknown:
            declared = ", ".join(sorted(self.inputs)) or "(none)"
            problems.append(
                Problem(f"unknown pipeline input(s) {unknown}; the pipeline takes: {declared}")
            )
        if missing:
            problems.append(Problem(f"missing required pipeline input(s): {missing}"))
        if problems:
            raise PipelineValidationError(problems)
        refused = [
            problem
            for check in self.input_checks
            if check.input in inputs
            for problem in check.problems(inputs[check.input])
        ]
        if refused:
            raise ComponentConfigError(refused)

    def final_stages(self) -> set[str]:
        """The stages whose outputs a run returns (the others' stay where they ran)."""
        if self.outputs:
            return {stage for _, stage, _ in self.outputs}
        return {stage for stage, _ in self.unconsumed}

    def collect(self, produced: Produced) -> dict[str, Any]:
        """A run's outputs from what the final stages produced; an output of a failed optional
        stage is left out."""
        if self.outputs:
            return {
                name: _read(outputs[socket])
                for name, stage, socket in self.outputs
                if (outputs := produced.get(stage)) is not None
            }
        return {
            f"{stage}.{socket}": _read(outputs[socket])
            for stage, socket in self.unconsumed
            if (outputs := produced.get(stage)) is not None
        }


def _read(value: Any) -> Any:
    """A run's output with any unread hits read (`ragloom.stored_chunks`): what leaves a run
    never goes back to a store, which may have changed by the time it is serialised."""
    if isinstance(value, list) and value and isinstance(value[0], Hit):
        return read_hits(value)
    return value


#: The last plan of each pipeline, with the shape it was made for.
_plans: weakref.WeakKeyDictionary[Pipeline, tuple[Any, ExecutionPlan]] = weakref.WeakKeyDictionary()
_plans_lock = threading.Lock()


def _shape(pipeline: Pipeline) -> Any:
    """Everything a plan is made from: the components (by identity, in order), connections,
    inputs, outputs, optional stages and executor block."""
    return (
        tuple((name, id(c), type(c)) for name, c in pipeline.components.items()),
        tuple(pipeline.connections),
        tuple((key, tuple(targets)) for key, targets in pipeline.inputs.items()),
        tuple(pipeline.outputs.items()),
        frozenset(pipeline.optional),
        repr(pipeline.executor),
    )


def _input_checks(pipeline: Pipeline) -> tuple[InputCheck, ...]:
    """An InputCheck for each pipeline input target whose values `value_type` constrains."""
    checks = []
    for key, targets in pipeline.inputs.items():
        for addr in targets:
            component = type(pipeline.components[addr.component])
            socket = component.input_sockets()[addr.socket]
            tp = value_type(component, socket)
            if tp is not None:
                checks.append(InputCheck(key, addr.component, component.label(), addr.socket, tp))
    return tuple(checks)


def _step(pipeline: Pipeline, name: str) -> Step:
    component = pipeline.components[name]
    sockets = type(component).input_sockets()
    feeds = [
        Feed(
            conn.receiver.socket,
            sockets[conn.receiver.socket].variadic,
            sockets[conn.receiver.socket].required,
            sender=conn.sender.component,
            sender_socket=conn.sender.socket,
        )
        for conn in pipeline.connections
        if conn.receiver.component == name
    ]
    feeds += [
        Feed(addr.socket, sockets[addr.socket].variadic, sockets[addr.socket].required, input=key)
        for key, targets in pipeline.inputs.items()
        for addr in targets
        if addr.component == name
    ]
    return Step(name, type(component).label(), name in pipeline.optional, tuple(feeds))


def gather(step: Step, inputs: Mapping[str, Any], produced: Produced) -> dict[str, Any]:
    """The keyword arguments of `step`, from pipeline `inputs` and its senders' outputs.

    A sender that is absent from `produced` or None there failed (it was optional): its
    input is left out (an input with a default keeps it, a required variadic input gets one
    list fewer) and, feeding a required single input, makes this stage fail as skipped
    (ComponentRunError). A pipeline input not given leaves its socket to its default.
    """
    kwargs: dict[str, Any] = {}
    for feed in step.feeds:
        if feed.input:
            if feed.input not in inputs:
                continue
            value = inputs[feed.input]
        elif (outputs := produced.get(feed.sender)) is None:
            if feed.required and not feed.variadic:
                reason = (
                    f"skipped: required input {feed.socket!r} comes from failed "
                    f"stage {feed.sender!r}"
                )
                raise ComponentRunError(step.name, step.label, RuntimeError(reason))
            if feed.variadic and feed.required:
                kwargs.setdefault(feed.socket, [])
            continue
        else:
            value = outputs[feed.sender_socket]
        if feed.variadic:
            kwargs.setdefault(feed.socket, []).append(value)
        else:
            kwargs[feed.socket] = value
    return kwargs


def run_step(
    step: Step, component: Component, kwargs: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """Run one stage: (its outputs, seconds); a failure, or outputs missing a declared
    socket, is a ComponentRunError naming the stage."""
    start = time.perf_counter()
    try:
        outputs = component.run(**kwargs)
    except Exception as exc:
        raise ComponentRunError(step.name, step.label, exc) from exc
    return _check_outputs(step, component, outputs), time.perf_counter() - start


def _check_outputs(step: Step, component: Component, outputs: Any) -> dict[str, Any]:
    """`outputs` if it is a dict holding every declared output socket, else ComponentRunError."""
    declared = type(component).output_sockets()
    if not isinstance(outputs, dict) or not set(declared) <= set(outputs):
        got = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
        error = TypeError(f"run() must return a dict with keys {sorted(declared)}, got {got}")
        raise ComponentRunError(step.name, step.label, error)
    return outputs


def run_batch(
    step: Step, component: Component, calls: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], float] | ComponentRunError]:
    """Run one stage on many calls' keyword arguments at once, each result (outputs, seconds)
    or its own ComponentRunError, in call order.

    A component that is a `BatchRunner` (`ragloom.roles`) runs them in one `run_batch` (e.g.
    one forward pass for many questions; seconds are the batch's, shared) and each output is
    checked as `run_step` checks it; if that batch call fails, or the component is no
    BatchRunner, each call runs alone through `run_step`, so a bad call fails only itself.
    """
    if isinstance(component, BatchRunner) and len(calls) > 1:
        start = time.perf_counter()
        try:
            batch = component.run_batch(calls)
        except Exception:  # one call may be at fault: run each alone, so only it fails
            batch = None
        seconds = time.perf_counter() - start
        if batch is not None and len(batch) == len(calls):
            return [_checked(step, component, outputs, seconds) for outputs in batch]
    results: list[tuple[dict[str, Any], float] | ComponentRunError] = []
    for kwargs in calls:
        try:
            results.append(run_step(step, component, kwargs))
        except ComponentRunError as exc:
            results.append(exc)
    return results


def _checked(
    step: Step, component: Component, outputs: Any, seconds: float
) -> tuple[dict[str, Any], float] | ComponentRunError:
    try:
        return _check_outputs(step, component, outputs), seconds
    except ComponentRunError as exc:
        return exc
