"""Coalescing: concurrent runs of one stage, on many threads, joined into one batched run.

A server runs one pipeline per request on a pool of threads. A stage whose component is a
`BatchRunner` (`ragloom.roles`; e.g. a query encoder: many questions in one forward pass) is
much cheaper per call in a batch, so `Coalescer` is a `LocalExecutor` stage runner that lets
calls arriving together share one `run_batch` (`ragloom.pipeline.plan`). It adds no wait: a
call that finds no batch running runs at once (alone, if it is alone); calls arriving while a
batch runs queue, and the next of them to wake runs them all together. Under load batches grow
by themselves; at one request at a time nothing changes.

Example::

    coalescer = Coalescer(pipeline.components["query_encoder"], max_batch=32)
    pipeline.runner = LocalExecutor(remote={"query_encoder": coalescer})
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ragloom.component import Component
from ragloom.errors import ComponentRunError
from ragloom.pipeline.local import LocalExecutor
from ragloom.pipeline.plan import Step, run_batch
from ragloom.roles import BatchRunner

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline

Outcome = tuple[dict[str, Any], float]


class Coalescer:
    """Runs a stage for many threads at once: calls that meet share one `run_batch`."""

    def __init__(self, component: Component, max_batch: int = 32):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.component = component
        self.max_batch = max_batch
        self._lock = threading.Condition()
        self._queue: list[tuple[Step, dict[str, Any], Future[Outcome]]] = []
        self._running = False
        #: How many calls each batch held (bounded: the last 1,000), for tests and metrics.
        self.batch_sizes: list[int] = []

    def __call__(self, step: Step, component: Component, kwargs: dict[str, Any]) -> Outcome:
        """A `LocalExecutor` stage runner: this call's (outputs, seconds), maybe batched."""
        done: Future[Outcome] = Future()
        with self._lock:
            self._queue.append((step, kwargs, done))
            while not done.done():
                if self._running:
                    self._lock.wait()
                    continue
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                self._running = True
                self._lock.release()
                try:
                    self._run(batch)
                finally:
                    self._lock.acquire()
                    self._running = False
                    self._lock.notify_all()
        return done.result()

    def _run(self, batch: list[tuple[Step, dict[str, Any], Future[Outcome]]]) -> None:
        """One `run_batch` for the queued calls; each future gets its own result or error."""
        step = batch[0][0]
        try:
            results = run_batch(step, self.component, [kwargs for _, kwargs, _ in batch])
        except BaseException as exc:  # never leave a waiting thread without an answer
            for _, _, done in batch:
                done.set_exception(exc)
            raise
        self.batch_sizes = [*self.batch_sizes[-999:], len(batch)]
        for (_, _, done), result in zip(batch, results, strict=True):
            if isinstance(result, ComponentRunError):
                done.set_exception(result)
            else:
                done.set_result(result)


def coalesce_batch_stages(pipelines: list[Pipeline], max_batch: int) -> dict[str, Coalescer]:
    """Run every BatchRunner stage of `pipelines` through a Coalescer (one per component,
    shared by pipelines that share it) on a local executor; returns them by stage name."""
    coalescers: dict[str, Coalescer] = {}
    by_component: dict[int, Coalescer] = {}
    for pipeline in pipelines:
        mine: dict[str, Coalescer] = {}
        for name, component in pipeline.components.items():
            if isinstance(component, BatchRunner):
                key = id(component)
                by_component.setdefault(key, Coalescer(component, max_batch))
                mine[name] = coalescers[name] = by_component[key]
        if mine:
            workers = LocalExecutor.from_config(pipeline.executor).max_workers
            pipeline.runner = LocalExecutor(max_workers=workers, remote=mine)
    return coalescers
