"""Tiny components for the Ray executor tests, registered once (on import) under `ray_test_*`.

Ray actors import this module by name (`tests.integration.ray_components`): a local Ray puts
the driver's working directory (the repository root under pytest) on its workers' sys.path.
"""

from __future__ import annotations

import os
from typing import Any

from ragloom.component import Component, output_types
from ragloom.registry import register


@register("ray_test_fail")
class Fail(Component):
    """Raises ValueError(message) when run: a stage that fails inside its actor."""

    def __init__(self, message: str = "boom"):
        self.message = message

    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        raise ValueError(f"{self.message} ({text})")


@register("ray_test_broken_warm_up")
class BrokenWarmUp(Component):
    """Fails in warm_up(), i.e. when its actor starts."""

    def warm_up(self) -> None:
        raise RuntimeError("model file missing")

    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        return {"text": text}


@register("ray_test_pid")
class Pid(Component):
    """Passes its text through and says which process ran it (to tell replicas apart)."""

    @output_types(text=str, pid=int)
    def run(self, text: str) -> dict[str, Any]:
        return {"text": text, "pid": os.getpid()}


@register("ray_test_crash_once")
class CrashOnce(Component):
    """Kills its own process on the first run ever (a marker file remembers it), then echoes."""

    def __init__(self, marker: str):
        self.marker = marker

    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        if not os.path.exists(self.marker):
            with open(self.marker, "w", encoding="utf-8") as handle:
                handle.write("crashed")
            os._exit(1)
        return {"text": text}
