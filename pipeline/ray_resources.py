"""Starting or joining Ray, and checking a pipeline's resource requests before any actor exists.

Ray leaves an actor that asks for more than the cluster has pending forever, without an error;
`check_resources` turns that into an immediate ConfigError naming the stage and the numbers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ragloom.errors import ConfigError, Problem
from ragloom.pipeline.ray_config import RayExecutorConfig, StagePlan

#: Ray's resource names -> the executor block's keys.
_KEYS = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory"}
_EPS = 1e-9


def ensure_ray(config: RayExecutorConfig) -> None:
    """Join `address:` or $RAY_ADDRESS, else start a local Ray; reuse a running session."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a core dependency today
        raise ImportError("the ray executor needs Ray: pip install 'ray>=2.50'") from exc

    if ray.is_initialized():
        return
    address = config.address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, ignore_reinit_error=True)
        return
    # "local": a fresh Ray, never whatever `ray start` left behind on this machine.
    ray.init(
        address="local",
        num_cpus=config.num_cpus or os.cpu_count() or 1,
        num_gpus=config.num_gpus,
        include_dashboard=False,
        ignore_reinit_error=True,
    )


def _key(resource: str) -> str:
    return _KEYS.get(resource, f"resources.{resource}")


def _setting(resource: str, value: float) -> str:
    if resource == "memory":
        return f"memory={value / 2**30:.2f} GiB"
    return f"{_key(resource)}={value:g}"


def _amount(resource: str, value: float) -> str:
    if resource == "memory":
        return f"{value / 2**30:.2f} GiB"
    return f"{value:g} {resource}"


def resource_problems(
    plans: Mapping[str, StagePlan],
    total: Mapping[str, float],
    available: Mapping[str, float],
    nodes: Sequence[Mapping[str, float]],
) -> list[Problem]:
    """What cannot be scheduled: a replica larger than any node, or more than the cluster has."""
    problems = []
    for name, plan in plans.items():
        for resource, value in plan.demand().items():
            largest = max((node.get(resource, 0.0) for node in nodes), default=0.0)
            if value > largest + _EPS:
                problems.append(
                    Problem(
                        f"executor: stage {name!r} asks for {_setting(resource, value)} per "
                        f"replica, but no Ray node has that much "
                        f"(largest node: {_amount(resource, largest)}; cluster total: "
                        f"{_amount(resource, total.get(resource, 0.0))}); lower "
                        f"executor.stages.{name}.{_key(resource).split('.')[0]} or add nodes",
                        component=name,
                        field=_key(resource),
                    )
                )
    if problems:
        return problems
    wanted: dict[str, float] = {}
    for plan in plans.values():
        for resource, value in plan.demand().items():
            wanted[resource] = wanted.get(resource, 0.0) + value * plan.replicas
    for resource, value in sorted(wanted.items()):
        parts = [
            f"{name} {plan.demand()[resource]:g}"
            + (f" x {plan.replicas}" if plan.replicas > 1 else "")
            for name, plan in plans.items()
            if resource in plan.demand()
        ]
        if resource == "memory":
            parts = [name for name, plan in plans.items() if resource in plan.demand()]
        asked = f"the stages together ask for {_amount(resource, value)} ({', '.join(parts)})"
        has, free = total.get(resource, 0.0), available.get(resource, 0.0)
        if value > has + _EPS:
            problems.append(
                Problem(
                    f"executor: {asked}, but the Ray cluster has {_amount(resource, has)}; lower "
                    f"{_key(resource)} or replicas under executor.stages, or give Ray more",
                    field=_key(resource),
                )
            )
        elif value > free + _EPS:
            problems.append(
                Problem(
                    f"executor: {asked}, but only {_amount(resource, free)} of the cluster's "
                    f"{_amount(resource, has)} are free: other actors hold the rest (close() "
                    f"pipelines you no longer run, or lower {_key(resource)})",
                    field=_key(resource),
                )
            )
    return problems


def check_resources(plans: Mapping[str, StagePlan], grace_s: float = 5.0) -> None:
    """Raise ConfigError, before any actor is created, when the stages cannot all be placed.

    What the cluster lacks fails at once; what other actors hold is re-read for `grace_s`
    first, since killed actors (a pipeline just closed) give their resources back a bit later.
    """
    import ray

    nodes = [dict(node.get("Resources", {})) for node in ray.nodes() if node.get("Alive")]
    total: dict[str, Any] = ray.cluster_resources()
    lacking = resource_problems(plans, total, total, nodes)
    if lacking:
        raise ConfigError(lacking)
    deadline = time.monotonic() + grace_s
    while held := resource_problems(plans, total, ray.available_resources(), nodes):
        if time.monotonic() >= deadline:
            raise ConfigError(held)
        time.sleep(0.2)
