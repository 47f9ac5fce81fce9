"""Errors that name the stage, the field, the allowed values and, for YAML, the file and line."""

from __future__ import annotations

from dataclasses import dataclass


class RagloomError(Exception):
    """Every error ragloom raises on purpose (the CLI prints these without a traceback)."""


@dataclass
class Problem:
    """One validation finding, located as precisely as we can."""

    message: str
    component: str | None = None
    field: str | None = None
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        elif self.line:
            where = f"line {self.line}: "
        return f"{where}{self.message}"


class ConfigError(RagloomError):
    """Invalid configuration: carries every problem found, each with its location."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ComponentConfigError(ConfigError):
    """A component was given an unknown parameter or a value outside what it accepts."""


class PipelineValidationError(ConfigError):
    """The pipeline graph is wrong: missing sockets, type mismatches, cycles, unfed inputs."""


class ModelNotFoundError(RagloomError):
    """A model setting is neither a bundled alias, a local directory, nor a reachable hub id."""


class ComponentRunError(RagloomError):
    """A stage failed while running; the message names the stage and its type."""

    def __init__(self, stage: str, component_type: str, cause: BaseException):
        self.stage = stage
        self.component_type = component_type
        self.cause = cause
        super().__init__(
            f"stage {stage!r} ({component_type}) failed: {type(cause).__name__}: {cause}"
        )
