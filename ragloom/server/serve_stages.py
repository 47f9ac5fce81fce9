"""Heavy stages on Ray Serve: the deployment that hosts one, and what the ingress calls it with.

The ingress runs the query pipeline's `ExecutionPlan` on a LocalExecutor (the same gathering,
skipping after an optional failure and output checks as every runner); for each deployed stage
it gets a `StageRunner` from `remote_runner`, which sends the gathered keyword arguments to
the stage's deployment and returns what `run_step` would: (outputs, seconds), or a
ComponentRunError naming the stage. A `StageDeployment` holds one warm component and runs it
with the plan's own functions: `run_step` per request, `run_batch` for a batch of concurrent
requests (`@serve.batch`: a query encoder encodes many questions in one forward pass), or
`run_step` streamed (a generator sends its text piece by piece to the ingress, which hands
each piece to the request's stream handler, as a generator in process would).

Example (what `ragloom.server.ray_serve` builds)::

    app = serve.deployment(StageDeployment).options(name="query_encoder").bind(
        "query_encoder", cls, spec, index_dir, batching)
    runner = remote_runner(handle, "batched", timeout_s=60)   # in the ingress
    outputs, seconds = runner(step, component, {"query": "What is BM25?"})
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Literal

from ray import serve

from ragloom.component import Component
from ragloom.errors import ComponentRunError
from ragloom.generation.streaming import current_stream_handler, stream_pieces
from ragloom.pipeline.local import StageRunner
from ragloom.pipeline.plan import Step, run_batch, run_step
from ragloom.pipeline.ray_actors import StageActor, StageFailed, portable
from ragloom.server.serve_settings import Batching

#: How a deployed stage is called: once per request, batched across requests, or streamed.
Mode = Literal["plain", "batched", "stream"]
#: What a deployment answers a call with: the stage's outputs and seconds, or its failure.
Reply = tuple[dict[str, Any], float] | StageFailed


#: `@serve.batch` with the defaults `StageDeployment` replaces per deployment (typed loosely:
#: Ray's annotations expect a plain function where this is a method).
_batch: Any = serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)


def _failed(error: ComponentRunError) -> StageFailed:
    return StageFailed(error.stage, error.component_type, portable(error.cause))


class StageDeployment:
    """One stage's Ray Serve deployment: a warm component, run as the ingress asks."""

    def __init__(
        self,
        stage: str,
        cls: type[Component],
        spec: dict[str, Any],
        index_dir: str,
        batching: Batching | None = None,
    ):
        self.host = StageActor(stage, cls, spec, index_dir)  # rebuilt and warmed as on Ray
        self.host.ready()  # a stage that cannot start fails its replica, naming the stage
        #: The sizes of the latest batches (`/metrics` and tests read them).
        self.batch_sizes: deque[int] = deque(maxlen=10_000)
        if batching is not None:
            batched: Any = self.run_batched
            batched.set_max_batch_size(batching.max_batch_size)
            batched.set_batch_wait_timeout_s(batching.batch_wait_timeout_s)

    async def run(self, step: Step, kwargs: dict[str, Any]) -> Reply:
        """Run the stage for one request (on a thread: the replica's event loop stays free)."""
        try:
            return await asyncio.to_thread(run_step, step, self.host.component, kwargs)
        except ComponentRunError as exc:
            return _failed(exc)

    @_batch
    async def run_batched(self, steps: list[Step], calls: list[dict[str, Any]]) -> list[Reply]:
        """Run the stage once for the requests that arrived together (one `run_batch`)."""
        self.batch_sizes.append(len(calls))
        done = await asyncio.to_thread(run_batch, steps[0], self.host.component, calls)
        return [_failed(r) if isinstance(r, ComponentRunError) else r for r in done]

    async def stream(self, step: Step, kwargs: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        """Run the stage for one request, yielding ("piece", text) as the stage generates it,
        then ("done", (outputs, seconds)) or ("failed", StageFailed)."""
        events = stream_pieces(lambda: run_step(step, self.host.component, kwargs))
        while (event := await asyncio.to_thread(next, events, None)) is not None:
            kind, value = event
            if kind == "error":
                cause = value.cause if isinstance(value, ComponentRunError) else value
                yield "failed", StageFailed(step.name, step.label, portable(cause))
                return
            yield kind, value

    def stats(self) -> dict[str, Any]:
        """What this replica has seen: the sizes of its batches, oldest first."""
        return {"batch_sizes": list(self.batch_sizes)}


def remote_runner(handle: Any, mode: Mode, timeout_s: float) -> StageRunner:
    """A StageRunner calling a stage's deployment through `handle` (see the module docstring);
    a failure or a replica that does not answer within `timeout_s` is a ComponentRunError."""

    def run(step: Step, component: Component, kwargs: dict[str, Any]) -> tuple[dict, float]:
        try:
            if mode == "stream":
                reply = _streamed(handle, step, kwargs)
            else:
                method = handle.run_batched if mode == "batched" else handle.run
                reply = method.remote(step, kwargs).result(timeout_s=timeout_s)
        except Exception as exc:  # the replica died, timed out, or Serve refused the call
            raise ComponentRunError(step.name, step.label, exc) from exc
        if isinstance(reply, StageFailed):
            raise ComponentRunError(reply.stage, reply.component_type, reply.error)
        return reply

    return run


def _streamed(handle: Any, step: Step, kwargs: dict[str, Any]) -> Reply:
    """Call a deployment's `stream`, handing each piece to this run's stream handler."""
    handler = current_stream_handler()
    for kind, value in handle.options(stream=True).stream.remote(step, kwargs):
        if kind == "piece":
            if handler is not None:
                handler(value)
        else:
            return value  # type: ignore[no-any-return]
    raise RuntimeError("the stage's stream ended without a result")
