"""The `executor: {type: ray, ...}` block: declared once as pydantic models, checked without Ray
(by `ragloom.pipeline.executor_config`, which checks every executor block).

Example::

    executor:
      type: ray
      address: auto          # optional; else $RAY_ADDRESS; else a local Ray is started
      num_cpus: 4            # only when a local Ray is started (default: os.cpu_count())
      timeout_s: 600         # every ray.get waits at most this long
      stages:
        default: {num_cpus: 0.25}              # every stage not listed below
        encoder: {replicas: 2, num_cpus: 1, memory: 2GB}
      indexing:              # `ragloom index` on Ray Data (see ragloom.indexing.ray_data)
        encoder_actors: 2    # chunk + encode actor pool size
        batch_size: 64       # documents per chunk + encode call
        write_batch_size: 256  # documents per write (and manifest commit)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ragloom.errors import ConfigError, Problem

#: The `stages:` entry whose settings apply to every stage it does not name.
DEFAULT_STAGE = "default"
#: CPUs a stage reserves when neither it nor `default:` says: four stages fit on one core.
DEFAULT_NUM_CPUS = 0.25

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_bytes(value: Any) -> int:
    """`2GB`, `512MiB`, `1.5 gb` or a plain number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected bytes or a size such as 2GB, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a memory size cannot be negative, got {value!r}")
        return int(value)
    match = _SIZE.match(str(value))
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"expected bytes or a size such as 2GB or 512MiB (units: KB, MB, GB, TB, KiB, MiB, "
            f"GiB, TiB), got {value!r}"
        )
    return int(float(match.group(1)) * _UNITS[unit])


class StageOptions(BaseModel):
    """Resources and fault tolerance of one stage (unset fields fall back to `default:`)."""

    model_config = ConfigDict(extra="forbid")

    replicas: int | None = Field(None, ge=1)
    num_cpus: float | None = Field(None, ge=0)
    num_gpus: float | None = Field(None, ge=0)
    memory: int | None = None
    resources: dict[str, float] | None = None
    max_restarts: int | None = Field(None, ge=-1)
    max_task_retries: int | None = Field(None, ge=-1)

    @pydantic.field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> int | None:
        return None if value is None else parse_bytes(value)


class StagePlan(BaseModel):
    """A stage's settings after `default:` and the executor-wide values were applied."""

    replicas: int = 1
    num_cpus: float = DEFAULT_NUM_CPUS
    num_gpus: float = 0.0
    memory: int | None = None
    resources: dict[str, float] = Field(default_factory=dict)
    max_restarts: int = 1
    max_task_retries: int = 0

    def actor_options(self) -> dict[str, Any]:
        """Keyword arguments for `ActorClass.options(...)`."""
        options: dict[str, Any] = {
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "max_restarts": self.max_restarts,
            "max_task_retries": self.max_task_retries,
        }
        if self.memory is not None:
            options["memory"] = self.memory
        if self.resources:
            options["resources"] = dict(self.resources)
        return options

    def demand(self) -> dict[str, float]:
        """Ray resources one replica reserves, by Ray's resource names."""
        demand = {"CPU": self.num_cpus, "GPU": self.num_gpus, "memory": float(self.memory or 0)}
        demand.update(self.resources)
        return {key: value for key, value in demand.items() if value > 0}


class IndexingOptions(BaseModel):
    """Distributed batch indexing: a chunk + encode actor pool on Ray Data, one writer actor."""

    model_config = ConfigDict(extra="forbid")

    #: False: index with the per-stage Ray executor instead.
    ray_data: bool = True
    encoder_actors: int = Field(1, ge=1)
    batch_size: int = Field(64, ge=1)
    write_batch_size: int = Field(256, ge=1)
    #: CPUs and GPUs per encoder actor; `num_gpus` unset: 1 when the cluster has enough GPUs.
    num_cpus: float = Field(1.0, gt=0)
    num_gpus: float | None = Field(None, ge=0)
    writer_num_cpus: float = Field(0.0, ge=0)


class RayExecutorConfig(BaseModel):
    """Where Ray runs, how long to wait for it, and what every stage reserves."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["ray"] = "ray"
    address: str | None = None
    num_cpus: int | None = Field(None, ge=1)
    num_gpus: int | None = Field(None, ge=0)
    timeout_s: float = Field(600.0, gt=0)
    ready_timeout_s: float = Field(300.0, gt=0)
    max_restarts: int = Field(1, ge=-1)
    max_task_retries: int = Field(0, ge=-1)
    dispatch: Literal["least_busy", "round_robin"] = "least_busy"
    check_resources: bool = True
    stages: dict[str, StageOptions] = Field(default_factory=dict)
    indexing: IndexingOptions = Field(default_factory=IndexingOptions)

    def stage(self, name: str) -> StagePlan:
        """The settings of stage `name`: its entry, else `default:`, else the built-in values."""
        merged: dict[str, Any] = {
            "max_restarts": self.max_restarts,
            "max_task_retries": self.max_task_retries,
        }
        for key in (DEFAULT_STAGE, name):
            entry = self.stages.get(key)
            if entry is not None:
                merged.update(entry.model_dump(exclude_none=True))
        return StagePlan(**merged)


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _describe(
    error: Any, root: type[BaseModel]
) -> tuple[tuple[str | int, ...], tuple[str | int, ...], str]:
    """One pydantic error of a `root` block -> (key path, the path to name, message)."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        parent, key = loc[:-1], loc[-1]
        model: type[BaseModel] = root  # a local block has no nested settings
        if len(parent) == 2 and parent[0] == "stages":
            model = StageOptions
        elif parent == ("indexing",):
            model = IndexingOptions
        valid = _field_names(model)
        close = difflib.get_close_matches(str(key), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return loc, parent, f"unknown key {key!r}{hint}; valid keys: {', '.join(valid)}"
    if error["type"] == "value_error":
        return loc, loc, error["msg"].removeprefix("Value error, ")
    return loc, loc, f"{error['msg']} (got {error.get('input')!r})"


def settings_problems(
    block: dict[str, Any], model: type[BaseModel] = RayExecutorConfig
) -> list[tuple[tuple[str | int, ...], Problem]]:
    """Every problem in the settings of an executor block declared by `model`, each with its
    key path (for the YAML line)."""
    if model is RayExecutorConfig and not isinstance(block.get("stages", {}), dict):
        message = "executor: stages: must map stage names to {replicas, num_cpus, ...}"
        return [(("stages",), Problem(f"{message}, got {block['stages']!r}", field="stages"))]
    try:
        model.model_validate(block)
    except pydantic.ValidationError as exc:
        found = []
        for error in exc.errors():
            loc, shown, message = _describe(error, model)
            field = str(loc[2]) if len(loc) > 2 and loc[0] == "stages" else str(loc[0])
            if len(loc) >= 2 and loc[0] == "stages":
                stage, rest = str(loc[1]), [str(part) for part in shown[2:]]
                where = f"executor: stage {stage!r}" + "".join(f": {part}" for part in rest[:1])
                where += "".join(f".{part}" for part in rest[1:])
                problem = Problem(f"{where}: {message}", component=stage, field=field)
            else:
                where = "".join(f" {part}:" for part in shown[:1])
                problem = Problem(f"executor:{where} {message}", field=field)
            found.append((loc, problem))
        return found
    return []


def parse_ray_executor(block: Any) -> RayExecutorConfig:
    """Validate a ray executor block; ConfigError lists every problem with stage and field."""
    if not isinstance(block, dict):
        raise ConfigError(f"executor: must be a mapping, got {block!r}")
    problems = [problem for _, problem in settings_problems(block)]
    if problems:
        raise ConfigError(problems)
    return RayExecutorConfig.model_validate(block)


def stage_name_problems(block: dict[str, Any], names: Iterable[str]) -> list[Problem]:
    """`stages:` entries that name no stage of the pipeline(s), listing the valid names."""
    valid = sorted(set(names))
    stages = block.get("stages") or {}
    problems = []
    for name in stages if isinstance(stages, dict) else ():
        if name == DEFAULT_STAGE or name in valid:
            continue
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            Problem(
                f"executor: stages: unknown stage {name!r}{hint}; the stages are: "
                f"{', '.join(valid) or '(none)'} (and {DEFAULT_STAGE!r} for all of them)",
                component=str(name),
                field="stages",
            )
        )
    return problems


def restrict_stages(block: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A copy of the block whose `stages:` only names `names` (and `default`)."""
    keep = {*names, DEFAULT_STAGE}
    stages = block.get("stages")
    if not isinstance(stages, dict):
        return dict(block)
    return {**block, "stages": {name: opts for name, opts in stages.items() if name in keep}}
