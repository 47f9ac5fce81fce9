"""Picking a pipeline's executor from its `executor:` block, and keeping Ray executors alive.

A Ray executor owns actors with loaded models, so it is created once per Pipeline and reused by
every run until `Pipeline.close()` (or until the executor block changes). Ray is imported only
when a pipeline actually runs on it: `import ragloom` never imports ray.

Example::

    executor_for(pipe).run(pipe, {"query": "..."})   # what Pipeline.run does
    close_executor(pipe)                              # what Pipeline.close does
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import TYPE_CHECKING, Any, Protocol

from ragloom.errors import ConfigError
from ragloom.pipeline.executor_config import check_executor, executor_kind, type_problem
from ragloom.pipeline.ray_config import restrict_stages

if TYPE_CHECKING:
    from ragloom.config import RagConfig
    from ragloom.pipeline.graph import Pipeline
    from ragloom.pipeline.ray_executor import RayExecutor
    from ragloom.pipeline.result import PipelineResult


class Executor(Protocol):
    def run(self, pipeline: Pipeline, inputs: dict[str, Any]) -> PipelineResult: ...


_ray_executors: weakref.WeakKeyDictionary[Pipeline, tuple[str, RayExecutor]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def executor_for(pipeline: Pipeline) -> Executor:
    """The executor named by `pipeline.executor` (a cached one for Ray); a block set in Python
    is checked here as a YAML one is when it loads."""
    block = pipeline.executor
    if executor_kind(block) != "ray":
        check_executor(block)
        from ragloom.pipeline.local import LocalExecutor

        return LocalExecutor.from_config(block)
    key = json.dumps(block, sort_keys=True, default=str)
    with _lock:
        cached = _ray_executors.get(pipeline)
        if cached is not None and cached[0] == key:
            return cached[1]
        check_executor(block, pipeline.components)
        from ragloom.pipeline.ray_executor import RayExecutor

        executor = RayExecutor.from_config(block)
        if cached is not None:
            cached[1].close()
        _ray_executors[pipeline] = (key, executor)
        return executor


def close_executor(pipeline: Pipeline) -> None:
    """Release what the pipeline's executor holds (Ray actors); a no-op for `local`."""
    with _lock:
        cached = _ray_executors.pop(pipeline, None)
    if cached is not None:
        cached[1].close()


def override_executor(block: dict[str, Any], kind: str) -> dict[str, Any]:
    """The block with its type replaced (`--executor`); keeps the settings when it is the same."""
    problem = type_problem(kind, "--executor")
    if problem is not None:
        raise ConfigError(problem)
    return dict(block) if executor_kind(block) == kind else {"type": kind}


def apply_executor(config: RagConfig, kind: str | None = None) -> None:
    """Override both pipelines' executor type, then fit a shared Ray block to each pipeline.

    The `executor:` block of a configuration is shared by `indexing:` and `query:`, so its
    `stages:` may name a stage of either pipeline: names are checked against both, then each
    pipeline keeps only its own.
    """
    pipelines = (config.indexing, config.query)
    if kind is not None:
        for pipeline in pipelines:
            pipeline.executor = override_executor(pipeline.executor, kind)
    names = {name for pipeline in pipelines for name in pipeline.components}
    for pipeline in pipelines:
        check_executor(pipeline.executor, names)  # a RagConfig built in Python, not loaded
    for pipeline in pipelines:
        if executor_kind(pipeline.executor) == "ray":
            pipeline.executor = restrict_stages(pipeline.executor, pipeline.components)


def prepare_executor(pipeline: Pipeline) -> None:
    """Start what the executor needs (Ray and the actors) now, on the calling thread."""
    if executor_kind(pipeline.executor) == "ray":
        from ragloom.pipeline.ray_executor import RayExecutor

        executor = executor_for(pipeline)
        if isinstance(executor, RayExecutor):
            executor.start(pipeline)
