"""The `executor:` block, checked in one place: its type, the settings that type takes, and the
stage names under a Ray block's `stages:`. YAML loading, `--executor` and `Pipeline.run` all
ask here.

Example::

    executor: {type: local, max_workers: 8}       # the default: threads in this process
    executor: {type: ray, stages: {encoder: {replicas: 2}}}   # see ragloom.pipeline.ray_config
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragloom.errors import ConfigError, Problem
from ragloom.pipeline.ray_config import settings_problems, stage_name_problems

EXECUTOR_TYPES = ("local", "ray")
DEFAULT_EXECUTOR = "local"

KeyPath = tuple[str | int, ...]


class LocalExecutorConfig(BaseModel):
    """In process: how many stages may run at once on threads."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local"] = "local"
    max_workers: int = Field(4, ge=1)


def executor_kind(block: dict[str, Any]) -> str:
    """The block's executor type (`local` when it names none)."""
    return str(block.get("type", DEFAULT_EXECUTOR))


def type_problem(kind: Any, where: str = "executor: type") -> Problem | None:
    """A type that is not an executor, named as `where` says (the YAML key, `--executor`)."""
    if kind in EXECUTOR_TYPES:
        return None
    valid = ", ".join(EXECUTOR_TYPES)
    return Problem(f"{where} must be one of {valid}, got {kind!r}", field="type")


def executor_problems(
    block: Any, stages: Iterable[str] | None = None
) -> list[tuple[KeyPath, Problem]]:
    """Every problem of an `executor:` block, each with its key path (for the YAML line); with
    `stages` (the pipeline's stage names), also the `stages:` entries that name none of them."""
    if not isinstance(block, dict):
        return [((), Problem(f"executor: must be a mapping with a `type:`, got {block!r}"))]
    problem = type_problem(block.get("type", DEFAULT_EXECUTOR))
    if problem is not None:
        return [(("type",), problem)]
    if executor_kind(block) == "local":
        return settings_problems(block, LocalExecutorConfig)
    found = settings_problems(block)
    if stages is not None:
        found += [(("stages", str(p.component)), p) for p in stage_name_problems(block, stages)]
    return found


def check_executor(block: Any, stages: Iterable[str] | None = None) -> None:
    """Raise one ConfigError listing every problem of the block (see `executor_problems`)."""
    problems = [problem for _, problem in executor_problems(block, stages)]
    if problems:
        raise ConfigError(problems)
