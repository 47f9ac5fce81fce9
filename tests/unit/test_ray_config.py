"""The `executor:` block (local or ray): validation, stage settings, resource checks; no Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ragloom.registry as registry
from ragloom.config import config_from_dict
from ragloom.errors import ConfigError, PipelineValidationError
from ragloom.pipeline import Pipeline
from ragloom.pipeline.executors import apply_executor, override_executor
from ragloom.pipeline.ray_config import parse_bytes, parse_ray_executor
from ragloom.pipeline.ray_resources import resource_problems
from ragloom.rag import RAG
from tests.unit.components_for_tests import TEST_TYPES

assert TEST_TYPES  # registers the test_* components

PIPELINE = """\
components:
  upper: {type: test_upper}
  length: {type: test_length}
connections:
  - {sender: upper.text, receiver: length.text}
inputs: {text: upper.text}
executor:
  type: ray
  timeout_s: 30
  stages:
"""


@pytest.fixture(autouse=True)
def _test_components_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_BUILTIN_MODULES", ())
    monkeypatch.setattr(registry, "_loaded", False)


def test_valid_block_round_trips() -> None:
    text = PIPELINE + "    default: {num_cpus: 0.5}\n    upper: {replicas: 2, memory: 2GiB}\n"
    pipe = Pipeline.from_yaml_text(text)
    again = Pipeline.from_yaml_text(pipe.to_yaml())
    assert again.executor == pipe.executor
    config = parse_ray_executor(pipe.executor)
    upper, length = config.stage("upper"), config.stage("length")
    assert (upper.replicas, upper.num_cpus, upper.memory) == (2, 0.5, 2 * 2**30)
    assert (length.replicas, length.num_cpus, length.memory) == (1, 0.5, None)
    assert upper.actor_options() == {
        "num_cpus": 0.5,
        "num_gpus": 0.0,
        "max_restarts": 1,
        "max_task_retries": 0,
        "memory": 2 * 2**30,
    }


def test_built_in_defaults_apply_without_stages() -> None:
    plan = parse_ray_executor({"type": "ray", "max_restarts": 3}).stage("anything")
    assert (plan.replicas, plan.num_cpus, plan.num_gpus, plan.max_restarts) == (1, 0.25, 0, 3)


def test_errors_name_stage_field_value_and_line() -> None:
    text = PIPELINE + "    upper: {num_cpu: 1, replicas: 0}\n    length: {memory: 2XB}\n"
    with pytest.raises(PipelineValidationError) as info:
        Pipeline.from_yaml_text(text)
    messages = {str(p) for p in info.value.problems}
    upper_line = text.splitlines().index("    upper: {num_cpu: 1, replicas: 0}") + 1
    assert any(
        m.startswith(
            f"line {upper_line}: executor: stage 'upper': unknown key 'num_cpu' "
            "(did you mean 'num_cpus'?)"
        )
        for m in messages
    ), messages
    assert any(
        "stage 'upper': replicas: Input should be greater than or equal to 1 (got 0)" in m
        for m in messages
    )
    assert any(
        "stage 'length': memory: expected bytes or a size such as 2GB" in m and "'2XB'" in m
        for m in messages
    )
    assert {p.component for p in info.value.problems} == {"upper", "length"}


def test_unknown_top_level_key_and_bad_value() -> None:
    text = PIPELINE.replace("timeout_s: 30", "timeout_s: -1\n  dispatch: random\n  workers: 2")
    with pytest.raises(PipelineValidationError) as info:
        Pipeline.from_yaml_text(text + "    {}\n")
    text_all = str(info.value)
    assert "executor: timeout_s: Input should be greater than 0 (got -1)" in text_all
    assert "executor: dispatch: Input should be 'least_busy' or 'round_robin'" in text_all
    assert "executor: unknown key 'workers'; valid keys: type, address, num_cpus" in text_all


def test_unknown_stage_lists_the_valid_ones() -> None:
    with pytest.raises(
        PipelineValidationError,
        match=(
            r"unknown stage 'uper' \(did you mean 'upper'\?\); the stages are: length, upper "
            r"\(and 'default' for all of them\)"
        ),
    ):
        Pipeline.from_yaml_text(PIPELINE + "    uper: {num_cpus: 1}\n")


def test_unknown_executor_type_lists_ray() -> None:
    with pytest.raises(PipelineValidationError, match="type must be one of local, ray"):
        Pipeline.from_yaml_text(PIPELINE.replace("type: ray", "type: dask") + "    {}\n")


def rag_config(stages: dict) -> dict:
    return {
        "executor": {"type": "ray", "stages": stages},
        "indexing": {
            "components": {"encoder": {"type": "test_upper"}},
            "inputs": {"paths": ["encoder.text"]},
        },
        "query": {
            "components": {"query_encoder": {"type": "test_upper"}},
            "inputs": {"query": ["query_encoder.text"]},
            "outputs": {"hits": "query_encoder.text"},
        },
    }


def test_shared_block_may_name_stages_of_either_pipeline() -> None:
    config = config_from_dict(rag_config({"encoder": {"num_cpus": 1}, "query_encoder": {}}))
    apply_executor(config)
    assert set(config.indexing.executor["stages"]) == {"encoder"}
    assert set(config.query.executor["stages"]) == {"query_encoder"}
    with pytest.raises(ConfigError, match=r"unknown stage 'encodr'.*encoder, query_encoder"):
        RAG(config_from_dict(rag_config({"encodr": {}})))


def test_shared_block_is_checked_once_when_the_configuration_loads() -> None:
    """One message per mistake (not one per pipeline sharing the block), before any RAG."""
    cases = {
        "spark": "executor: type must be one of local, ray, got 'spark'",
        "ray-typo": "executor: stages: unknown stage 'encodr' (did you mean 'encoder'?); "
        "the stages are: encoder, query_encoder (and 'default' for all of them)",
        "local-key": "executor: unknown key 'max_worker' (did you mean 'max_workers'?); "
        "valid keys: type, max_workers",
    }
    blocks = {
        "spark": {"type": "spark"},
        "ray-typo": {"type": "ray", "stages": {"encodr": {}}},
        "local-key": {"type": "local", "max_worker": 2},
    }
    for case, message in cases.items():
        with pytest.raises(PipelineValidationError) as info:
            config_from_dict({**rag_config({}), "executor": blocks[case]})
        assert [p.message for p in info.value.problems] == [message], case


def test_an_executor_block_set_in_python_is_checked_by_the_same_rules() -> None:
    pipe = Pipeline.from_yaml_text(PIPELINE + "    {}\n")
    pipe.executor = {"type": "dask"}
    with pytest.raises(
        ConfigError, match=r"^executor: type must be one of local, ray, got 'dask'$"
    ):
        pipe.run({"text": "x"})
    pipe.executor = {"type": "local", "max_workers": 0}
    with pytest.raises(ConfigError, match=r"^executor: max_workers: Input should be greater"):
        pipe.run({"text": "x"})
    pipe.executor = {"type": "ray", "stages": {"uper": {}}}
    with pytest.raises(ConfigError, match=r"^executor: stages: unknown stage 'uper'"):
        pipe.run({"text": "x"})
    pipe.executor = {"type": "local", "max_workers": 2}
    assert pipe.run({"text": "x"}).outputs


def test_executor_override() -> None:
    config = config_from_dict(rag_config({"encoder": {"num_cpus": 1}}))
    apply_executor(config, "local")
    assert config.indexing.executor == config.query.executor == {"type": "local"}
    apply_executor(config, "ray")
    assert config.query.executor == {"type": "ray"}
    ray_block = {"type": "ray", "timeout_s": 5}
    assert override_executor(ray_block, "ray") == ray_block
    with pytest.raises(ConfigError, match="--executor must be one of local, ray, got 'dask'"):
        override_executor(ray_block, "dask")


def test_cli_has_executor_flag() -> None:
    from ragloom.cli import app

    for command in ("index", "query"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert "--executor" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2GB", 2 * 10**9), ("512MiB", 512 * 2**20), ("1.5 gib", int(1.5 * 2**30)), (1024, 1024)],
)
def test_parse_bytes(text: object, expected: int) -> None:
    assert parse_bytes(text) == expected


def test_resource_problems_name_stage_and_numbers() -> None:
    config = parse_ray_executor(
        {"type": "ray", "stages": {"encoder": {"num_cpus": 64}, "bm25": {"num_gpus": 1}}}
    )
    plans = {name: config.stage(name) for name in ("encoder", "bm25")}
    cluster = {"CPU": 2.0, "memory": 8e9}
    problems = resource_problems(plans, cluster, cluster, [cluster])
    assert [p.component for p in problems] == ["encoder", "bm25"]
    assert "stage 'encoder' asks for num_cpus=64 per replica" in problems[0].message
    assert "largest node: 2 CPU" in problems[0].message
    assert "stage 'bm25' asks for num_gpus=1 per replica" in problems[1].message


def test_resource_problems_count_replicas_and_what_others_hold() -> None:
    config = parse_ray_executor(
        {"type": "ray", "stages": {"encoder": {"replicas": 3, "num_cpus": 1}}}
    )
    plans = {name: config.stage(name) for name in ("encoder", "fusion")}
    total = {"CPU": 2.0}
    (problem,) = resource_problems(plans, total, total, [total])
    assert "the stages together ask for 3.25 CPU (encoder 1 x 3, fusion 0.25)" in problem.message
    assert "the Ray cluster has 2 CPU" in problem.message
    fits = {"encoder": config.stage("fusion")}
    (held,) = resource_problems(fits, {"CPU": 2.0}, {"CPU": 0.1}, [total])
    assert "only 0.1 CPU of the cluster's 2 CPU are free" in held.message
    assert resource_problems(fits, total, total, [total]) == []


def test_importing_ragloom_does_not_import_ray() -> None:
    code = (
        "import sys, ragloom, ragloom.rag, ragloom.cli, ragloom.pipeline.executors; "
        "from ragloom.pipeline import Pipeline; assert 'ray' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
