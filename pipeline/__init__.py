"""Pipeline DAG, YAML spec, validation and executors (installed as `ragloom.pipeline`)."""

from ragloom.pipeline.graph import Address, Connection, Pipeline, PipelineResult

__all__ = ["Address", "Connection", "Pipeline", "PipelineResult"]
