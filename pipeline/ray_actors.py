"""What runs inside a Ray worker: one stage per actor, rebuilt from its serialised config.

The actor receives the component's class and `to_dict()` envelope, rebuilds it with
`from_dict`, binds the index directory and calls `warm_up()` once (again after a restart).
`run(plan, optional, *upstream)` gets the upstream stages' output dicts already resolved by Ray
(they are passed as top-level ObjectRefs), picks the sockets it needs and returns
`(outputs, seconds)`.

Example (what RayExecutor does)::

    actor = ray.remote(StageActor).options(num_cpus=1).remote("bm25", cls, spec, "/idx")
    outputs_ref, seconds_ref = actor.run.options(num_returns=2).remote(plan, False, upstream_ref)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragloom.component import Component


class StageFailed(Exception):
    """A stage's failure, carried through Ray intact: the driver turns it into ComponentRunError."""

    def __init__(self, stage: str, component_type: str, error: BaseException):
        super().__init__(stage, component_type, error)
        self.stage = stage
        self.component_type = component_type
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (StageFailed, (self.stage, self.component_type, self.error))

    def __str__(self) -> str:
        return f"stage {self.stage!r} ({self.component_type}) failed: {self.error!r}"


def portable(error: BaseException) -> BaseException:
    """The error itself when it pickles, else an Exception of the same name and message."""
    from ray import cloudpickle

    try:
        cloudpickle.loads(cloudpickle.dumps(error))
    except Exception:
        stand_in = type(type(error).__name__, (Exception,), {})
        return stand_in(str(error))
    return error


@dataclass(frozen=True)
class Feed:
    """How one input socket is fed: from an upstream stage's output, or a pipeline input."""

    socket: str
    variadic: bool
    required: bool
    sender: int = -1  # index into `*upstream`; -1 for a pipeline input
    sender_name: str = ""
    sender_socket: str = ""
    value: Any = None


@dataclass(frozen=True)
class Failure:
    """What a failed stage returns instead of outputs (errors travel as values, not raises).

    A failure of a required stage is passed on by every stage downstream of it, unrun, so
    the driver reads it wherever it looks; a failure of an optional stage (`optional=True`)
    only means its receivers do without it, as in LocalExecutor.
    """

    error: StageFailed
    optional: bool


class _PassOn(Exception):
    def __init__(self, failure: Failure):
        self.failure = failure


def assemble(stage: str, label: str, plan: list[Feed], upstream: tuple[Any, ...]) -> dict[str, Any]:
    """The stage's keyword arguments, gathered as LocalExecutor gathers them.

    An input from a failed optional stage is left out (a required variadic input gets one list
    fewer); a required single input from one makes this stage fail as "skipped".
    """
    kwargs: dict[str, Any] = {}
    for feed in plan:
        if feed.sender < 0:  # a pipeline input
            value = feed.value
        elif isinstance(sent := upstream[feed.sender], Failure):
            if not sent.optional:
                raise _PassOn(sent)
            if feed.required and not feed.variadic:
                reason = (
                    f"skipped: required input {feed.socket!r} comes from failed "
                    f"stage {feed.sender_name!r}"
                )
                raise StageFailed(stage, label, RuntimeError(reason))
            if feed.variadic and feed.required:
                kwargs.setdefault(feed.socket, [])
            continue
        else:
            value = sent[feed.sender_socket]
        if feed.variadic:
            kwargs.setdefault(feed.socket, []).append(value)
        else:
            kwargs[feed.socket] = value
    return kwargs


class StageActor:
    """A Ray actor holding one warmed-up component; `run` is called once per pipeline run."""

    def __init__(self, stage: str, cls: type[Component], spec: dict[str, Any], index_dir: str):
        self.stage = stage
        self.label = cls.label()
        self.failure: StageFailed | None = None
        try:
            component = cls.from_dict(spec)
            component.bind_index(Path(index_dir))
            component.warm_up()
        except Exception as exc:  # reported by ready() and run(), naming the stage
            self.failure = StageFailed(stage, self.label, portable(exc))
            return
        self.component = component

    def ready(self) -> bool:
        """Returns once the component is warm; raises StageFailed if it could not be built."""
        if self.failure is not None:
            raise self.failure
        return True

    def run(
        self, plan: list[Feed], optional: bool, *upstream: Any
    ) -> tuple[dict[str, Any] | Failure, float | Failure]:
        """Run the component on its gathered inputs; returns (outputs, seconds).

        On failure (its own, or a required upstream stage's) it returns the Failure twice.
        """
        try:
            self.ready()
            return self._run(assemble(self.stage, self.label, plan, upstream))
        except _PassOn as passed:
            return passed.failure, passed.failure
        except StageFailed as error:
            failure = Failure(error, optional)
            return failure, failure

    def _run(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], float]:
        start = time.perf_counter()
        try:
            outputs = self.component.run(**kwargs)
        except Exception as exc:
            raise StageFailed(self.stage, self.label, portable(exc)) from None
        seconds = time.perf_counter() - start
        declared = type(self.component).output_sockets()
        if not isinstance(outputs, dict) or not set(declared) <= set(outputs):
            got = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
            error = TypeError(f"run() must return a dict with keys {sorted(declared)}, got {got}")
            raise StageFailed(self.stage, self.label, error)
        return outputs, seconds
