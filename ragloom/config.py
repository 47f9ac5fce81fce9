"""A RAG configuration file: an indexing pipeline and a query pipeline sharing one index.

Shape (each section is a pipeline in the Haystack shape)::

    version: 1
    index_dir: .ragloom        # optional; `--index-dir` overrides, default ./.ragloom
    indexing: {components: ..., connections: ..., inputs: {paths: [...]}, outputs: ...}
    query:    {components: ..., connections: ..., inputs: {query: [...]}, outputs: {hits: ...}}
    serve:    {port: 8000, ...}  # optional: `ragloom serve` settings (ragloom.server.settings)

The CLI relies on this contract: the indexing pipeline takes `paths`; the query pipeline takes
`query` (and optionally `top_k`) and exposes `hits` (and optionally `answer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ragloom.component import Component
from ragloom.errors import ConfigError, PipelineValidationError, Problem
from ragloom.pipeline.graph import Pipeline
from ragloom.pipeline.serde import PIPELINE_KEYS, located_executor_problems
from ragloom.pipeline.spec import Source, load_yaml_file, parse_yaml

CONFIG_KEYS = ("version", "index_dir", "executor", "indexing", "query", "serve")
SUPPORTED_VERSIONS = (1,)
#: Settings that must agree between the chunk encoder and the query encoder.
ENCODER_KEYS = (
    "model",
    "pooling",
    "normalize",
    "max_length",
    "query_prefix",
    "passage_prefix",
    "truncate_dim",
)
#: What the model-free hashing encoders (`ragloom.chunking.hashing`) record instead, with
#: `model: hashing`.
HASHING_ENCODER_KEYS = ("dimension", "ngram")
HASHING_ENCODER_TYPES = ("hashing_encoder", "hashing_query_encoder")
#: Indexing stages whose settings are recorded as the index's encoder.
CHUNK_ENCODER_TYPES = ("chunk_encoder", "late_chunking_encoder", "hashing_encoder")
#: Query stages that must encode like the index.
QUERY_ENCODER_TYPES = ("query_encoder", "hashing_query_encoder")


def encoder_record(component: Component) -> dict[str, Any]:
    """The settings of an encoder stage that the index manifest records and queries must share."""
    params = component.init_parameters
    if type(component).registered_name() in HASHING_ENCODER_TYPES:
        return {"model": "hashing", **{k: params.get(k) for k in HASHING_ENCODER_KEYS}}
    return {k: params.get(k) for k in ENCODER_KEYS}


@dataclass
class RagConfig:
    """The two pipelines of a RAG application and where their index lives."""

    indexing: Pipeline
    query: Pipeline
    index_dir: Path | None = None
    file: str | None = None

    def set_index_dir(self, index_dir: str | Path | None) -> None:
        """Point both pipelines at `index_dir` (CLI flag > config > ./.ragloom)."""
        if index_dir is not None:
            self.index_dir = Path(index_dir)
        for pipeline in (self.indexing, self.query):
            pipeline.index_dir = self.index_dir

    def encoder_settings(self) -> dict[str, Any] | None:
        """The chunk encoder's settings recorded in the index manifest (None without one)."""
        for component in self.indexing.components.values():
            if type(component).registered_name() in CHUNK_ENCODER_TYPES:
                return encoder_record(component)
        return None


def is_pipeline_file(data: Any) -> bool:
    """A bare pipeline (components at the top) rather than a RAG configuration."""
    return isinstance(data, dict) and "components" in data


def config_from_dict(data: Any, source: Source | None = None) -> RagConfig:
    """Build and check a RagConfig; every problem is reported with its line."""
    src = source or Source()
    if not isinstance(data, dict):
        raise ConfigError(
            src.problem("a configuration must be a mapping with `indexing:` and `query:`")
        )
    problems: list[Problem] = []
    for key in data:
        if key not in CONFIG_KEYS:
            hint = " (this looks like a bare pipeline section)" if key in PIPELINE_KEYS else ""
            problems.append(
                src.problem(f"unknown key {key!r}{hint}; expected {', '.join(CONFIG_KEYS)}", key)
            )
    version = data.get("version", 1)
    if version not in SUPPORTED_VERSIONS:
        problems.append(src.problem(f"unsupported version {version!r}; supported: 1", "version"))
    pipelines: dict[str, Pipeline] = {}
    for section in ("indexing", "query"):
        if section not in data:
            problems.append(src.problem(f"missing `{section}:` pipeline"))
            continue
        section_data = data[section]
        if isinstance(section_data, dict) and "index_dir" in data:
            section_data = {"index_dir": data["index_dir"], **section_data}
        try:
            pipelines[section] = Pipeline.from_dict(section_data, src.sub(section))
        except ConfigError as exc:
            problems.extend(exc.problems)
    problems.extend(_shared_executor_problems(data, pipelines, src))
    if problems:
        raise PipelineValidationError(problems)
    config = RagConfig(pipelines["indexing"], pipelines["query"], file=src.file)
    problems.extend(_contract_problems(config, src))
    if problems:
        raise PipelineValidationError(problems)
    config.set_index_dir(data.get("index_dir"))
    return config


def _shared_executor_problems(
    data: dict[str, Any], pipelines: dict[str, Pipeline], src: Source
) -> list[Problem]:
    """Check the top-level `executor:` once (its `stages:` may name a stage of either
    pipeline) and give it to each pipeline that has no `executor:` of its own."""
    block = data.get("executor")
    if not block:  # absent or empty: every pipeline runs on the default executor
        return []
    names = [name for pipeline in pipelines.values() for name in pipeline.components]
    found = located_executor_problems(block, names if len(pipelines) == 2 else None, src)
    for section, pipeline in pipelines.items():
        if not found and "executor" not in data[section]:
            pipeline.executor = dict(block)
    return found


def _contract_problems(config: RagConfig, src: Source) -> list[Problem]:
    problems = []
    if "paths" not in config.indexing.inputs:
        problems.append(
            src.problem(
                "the indexing pipeline must declare the input `paths`", "indexing", "inputs"
            )
        )
    if "query" not in config.query.inputs:
        problems.append(
            src.problem("the query pipeline must declare the input `query`", "query", "inputs")
        )
    if "hits" not in config.query.outputs:
        problems.append(
            src.problem("the query pipeline must declare the output `hits`", "query", "outputs")
        )
    indexed = config.encoder_settings()
    for name, component in config.query.components.items():
        if type(component).registered_name() not in QUERY_ENCODER_TYPES or indexed is None:
            continue
        settings = encoder_record(component)
        if settings.keys() != indexed.keys():  # another kind of encoder than the index's
            problems.append(
                src.problem(
                    f"query encoder {name!r} is a {type(component).label()} but the index is "
                    f"encoded with model={indexed['model']!r}; queries must be encoded like "
                    f"the index",
                    "query",
                    "components",
                    name,
                    "type",
                    component=name,
                    field="type",
                )
            )
            continue
        for key, value in settings.items():
            if value != indexed[key]:
                problems.append(
                    src.problem(
                        f"query encoder {name!r} has {key}={value!r} but the index is encoded with "
                        f"{key}={indexed[key]!r}; queries must be encoded like the index",
                        "query",
                        "components",
                        name,
                        "init_parameters",
                        key,
                        component=name,
                        field=key,
                    )
                )
    return problems


def load_config(path: str | Path) -> RagConfig:
    """Read a RAG configuration file (YAML, safe loader)."""
    data, source = load_yaml_file(path)
    return config_from_dict(data, source)


def default_config() -> RagConfig:
    """The built-in configuration (bundled models, hybrid retrieval, extractive answers)."""
    text = resources.files("ragloom.defaults").joinpath("default.yaml").read_text(encoding="utf-8")
    data, source = parse_yaml(text, "<built-in default.yaml>")
    return config_from_dict(data, source)


def validate_file(path: str | Path) -> str:
    """Validate a RAG configuration or a bare pipeline file; returns what kind it was."""
    data, source = load_yaml_file(path)
    if is_pipeline_file(data):
        Pipeline.from_dict(data, source)
        return "pipeline"
    config_from_dict(data, source)
    return "configuration"
