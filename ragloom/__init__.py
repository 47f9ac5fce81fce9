"""ragloom: RAG pipelines as typed DAGs, in-process or on Ray."""

from ragloom.component import Component, Variadic, output_types
from ragloom.errors import (
    ComponentConfigError,
    ComponentRunError,
    ConfigError,
    ModelNotFoundError,
    PipelineValidationError,
    RagloomError,
)
from ragloom.registry import register, registered_types
from ragloom.types import Answer, Chunk, Document, Hit

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Chunk",
    "Component",
    "ComponentConfigError",
    "ComponentRunError",
    "ConfigError",
    "Document",
    "Hit",
    "ModelNotFoundError",
    "Pipeline",
    "PipelineValidationError",
    "RagloomError",
    "Variadic",
    "output_types",
    "register",
    "registered_types",
]


def __getattr__(name: str) -> object:
    # Pipeline lives in the ragloom.pipeline sub-package, which imports from this package.
    if name == "Pipeline":
        from ragloom.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'ragloom' has no attribute {name!r}")
