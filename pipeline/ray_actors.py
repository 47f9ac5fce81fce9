"""What runs inside a Ray worker: one stage per actor, rebuilt from its serialised config.

The actor receives the component's class and `to_dict()` envelope, rebuilds it with
`from_dict`, binds the index directory and calls `warm_up()` once (again after a restart).
`run(step, inputs, *upstream)` gets its `ExecutionPlan` step, the pipeline inputs it reads and
the upstream stages' output dicts already resolved by Ray (passed as top-level ObjectRefs);
it gathers and runs exactly as every runner does (`ragloom.pipeline.plan`) and returns
`(outputs, seconds)`.

Example (what RayExecutor does)::

    actor = ray.remote(StageActor).options(num_cpus=1).remote("bm25", cls, spec, "/idx")
    outputs_ref, seconds_ref = actor.run.options(num_returns=2).remote(step, inputs, upstream_ref)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragloom.component import Component
from ragloom.errors import ComponentRunError
from ragloom.pipeline.plan import Step, gather, run_step


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
class Failure:
    """What a failed stage returns instead of outputs (errors travel as values, not raises).

    A failure of a required stage is passed on by every stage downstream of it, unrun, so
    the driver reads it wherever it looks; a failure of an optional stage (`optional=True`)
    only means its receivers do without it, as in LocalExecutor.
    """

    error: StageFailed
    optional: bool


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
        self, step: Step, inputs: dict[str, Any], *upstream: Any
    ) -> tuple[dict[str, Any] | Failure, float | Failure]:
        """Run the component on its gathered inputs (`upstream`: the outputs of
        `step.senders`, in that order); returns (outputs, seconds).

        On failure (its own, or a required upstream stage's, which it passes on unrun) it
        returns the Failure twice.
        """
        produced: dict[str, dict[str, Any] | None] = {}
        for sender, sent in zip(step.senders, upstream, strict=True):
            if isinstance(sent, Failure):
                if not sent.optional:
                    return sent, sent
                sent = None
            produced[sender] = sent
        try:
            self.ready()
            kwargs = gather(step, inputs, produced)
            return run_step(step, self.component, kwargs)
        except ComponentRunError as exc:
            failure = Failure(
                StageFailed(exc.stage, exc.component_type, portable(exc.cause)), step.optional
            )
            return failure, failure
        except StageFailed as error:
            failure = Failure(error, step.optional)
            return failure, failure
