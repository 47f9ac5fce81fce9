"""What a pipeline run returns, whichever executor ran it.

Below pipeline/graph.py so that the executors (local, Ray) build results without importing the
graph (graph imports the executors for Pipeline.run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragloom.errors import ComponentRunError


@dataclass
class PipelineResult:
    """What a run produced: outputs by name, seconds per stage, failed optional stages."""

    outputs: dict[str, Any]
    timings: dict[str, float]
    errors: dict[str, ComponentRunError] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        if name not in self.outputs and self.errors:
            failed = "; ".join(str(e) for e in self.errors.values())
            raise KeyError(f"output {name!r} was not produced; optional stage(s) failed: {failed}")
        return self.outputs[name]
