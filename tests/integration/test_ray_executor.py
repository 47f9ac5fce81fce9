"""The Ray executor against the local one: same hits, per-stage timings, errors naming the stage.

One local Ray (2 CPUs) serves the whole session (`ray_cluster` in conftest.py). Test pipelines
reserve tiny CPU shares so that several can hold actors at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.integration.ray_components as ray_components
from ragloom.errors import ComponentRunError, ConfigError
from ragloom.generation.base import Message, TextGenerator
from ragloom.generation.generator import LLMGenerator
from ragloom.pipeline import Pipeline
from ragloom.pipeline.executors import executor_for
from ragloom.rag import RAG
from tests.integration.conftest import CORPUS, ROOT, ragloom_cli
from tests.integration.rendezvous import Rendezvous
from tests.unit import components_for_tests as parts

HYBRID = ROOT / "examples" / "hybrid-chunks.yaml"
QUESTIONS = [
    "What is reciprocal rank fusion?",
    "How does late chunking embed a chunk?",
    "What does BM25 score?",
    "Why run stages as Ray actors?",
]
TINY = {"default": {"num_cpus": 0.05}}


def ray_pipeline(**executor: object) -> Pipeline:
    return Pipeline(executor={"type": "ray", "stages": TINY, **executor})


@pytest.fixture
def pipelines():
    """Pipelines a test creates; their actors are killed when it ends."""
    made: list[Pipeline] = []
    yield made
    for pipe in made:
        pipe.close()


def _hits(result) -> list[tuple[str, float]]:
    return [(hit.chunk.id, hit.score) for hit in result.hits]


@pytest.fixture(scope="module")
def hybrid_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/hybrid-chunks.yaml's index of the example corpus, built once locally."""
    index_dir = tmp_path_factory.mktemp("ray-hybrid") / "index"
    RAG.from_file(HYBRID, index_dir).index([CORPUS])
    return index_dir


@pytest.fixture(scope="module")
def hybrid_on_ray(ray_cluster: str, hybrid_index: Path):
    """The same configuration with `--executor ray`: its query actors live for the module."""
    rag = RAG.from_file(HYBRID, hybrid_index, executor="ray")
    yield rag
    rag.close()


def test_same_hits_and_answers_as_local(hybrid_index: Path, hybrid_on_ray: RAG) -> None:
    local = RAG.from_file(HYBRID, hybrid_index)
    assert hybrid_on_ray.config.query.executor["type"] == "ray"
    for question in QUESTIONS:
        expected, got = local.query(question), hybrid_on_ray.query(question)
        assert [cid for cid, _ in _hits(got)] == [cid for cid, _ in _hits(expected)]
        assert [s for _, s in _hits(got)] == pytest.approx(
            [s for _, s in _hits(expected)], abs=1e-6
        )
        for mine, theirs in zip(got.hits, expected.hits, strict=True):
            assert mine.source_ranks == theirs.source_ranks
            assert mine.source_scores == pytest.approx(theirs.source_scores, abs=1e-6)
        assert got.answer is not None and expected.answer is not None
        assert got.answer.text == expected.answer.text


def test_timings_for_every_stage_and_actors_reused(hybrid_on_ray: RAG) -> None:
    pipe = hybrid_on_ray.config.query
    first = hybrid_on_ray.query(QUESTIONS[0])
    executor = executor_for(pipe)
    pools = dict(executor.pools)  # type: ignore[attr-defined]
    second = hybrid_on_ray.query(QUESTIONS[1])
    for result in (first, second):
        assert set(result.timings) == {*pipe.components, "total"}
        assert all(seconds >= 0 for seconds in result.timings.values())
    assert executor_for(pipe) is executor
    assert executor.pools == pools  # type: ignore[attr-defined]


def test_component_error_names_the_stage_like_local(ray_cluster: str, pipelines) -> None:
    def build(executor: dict) -> Pipeline:
        pipe = Pipeline(executor=executor)
        pipe.add("source", parts.Source("x")).add("explode", ray_components.Fail("boom"))
        pipe.connect("source.text", "explode.text")
        pipelines.append(pipe)
        return pipe

    with pytest.raises(ComponentRunError) as local:
        build({"type": "local"}).run()
    with pytest.raises(ComponentRunError) as remote:
        build({"type": "ray", "stages": TINY}).run()
    assert str(remote.value) == str(local.value)
    assert remote.value.stage == "explode"
    assert "stage 'explode' (ray_test_fail) failed: ValueError: boom (x)" in str(remote.value)
    assert isinstance(remote.value.cause, ValueError)


def test_warm_up_error_names_the_stage(ray_cluster: str, pipelines) -> None:
    pipe = ray_pipeline()
    pipelines.append(pipe)
    pipe.add("source", parts.Source("x")).add("model", ray_components.BrokenWarmUp())
    pipe.connect("source.text", "model.text")
    with pytest.raises(ComponentRunError, match=r"stage 'model' .*model file missing"):
        pipe.run()


class Echo(TextGenerator):
    """A generator that exists only as a Python object in this process."""

    name = "echo"

    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        yield "echo"


def test_a_generator_given_as_python_object_is_refused_saying_why(
    ray_cluster: str, pipelines
) -> None:
    """Actors rebuild stages from to_dict(); a Python-only generator cannot be, and says so."""
    pipe = ray_pipeline()
    pipelines.append(pipe)
    pipe.add("generator", LLMGenerator.from_generator(Echo()))
    pipe.add_input("messages", "generator.messages").add_input("hits", "generator.hits")
    with pytest.raises(ConfigError) as err:
        pipe.run({"messages": [], "hits": []})
    message = str(err.value)
    assert "Python object (Echo" in message and "local executor" in message
    pipe.executor = {"type": "local"}
    assert pipe.run({"messages": [], "hits": []}).outputs["generator.answer"].text


def test_oversubscription_fails_fast_naming_stage_and_numbers(ray_cluster: str, pipelines) -> None:
    pipe = ray_pipeline(stages={**TINY, "upper": {"num_cpus": 64}})
    pipelines.append(pipe)
    pipe.add("upper", parts.Upper()).add_input("text", "upper.text")
    with pytest.raises(ConfigError, match=r"stage 'upper' asks for num_cpus=64 .*2 CPU"):
        pipe.run({"text": "a"})
    assert executor_for(pipe).pools == {}  # type: ignore[attr-defined]  # refused, no actor
    pipe.executor = {"type": "ray", "stages": {"default": {"num_cpus": 1, "replicas": 3}}}
    with pytest.raises(ConfigError, match=r"together ask for 3 CPU \(upper 1 x 3\).* has 2 CPU"):
        pipe.run({"text": "a"})
    assert executor_for(pipe).pools == {}  # type: ignore[attr-defined]


def test_replicas_share_the_work(ray_cluster: str, pipelines) -> None:
    pipe = ray_pipeline(stages={**TINY, "pid": {"replicas": 2}})
    pipelines.append(pipe)
    pipe.add("pid", ray_components.Pid()).add_input("text", "pid.text")
    results = [pipe.run({"text": f"t{n}"}) for n in range(4)]
    assert [r.outputs["pid.text"] for r in results] == ["t0", "t1", "t2", "t3"]
    assert len({r.outputs["pid.pid"] for r in results}) == 2
    assert executor_for(pipe).pools["pid"].dispatched == [2, 2]  # type: ignore[attr-defined]


def test_independent_branches_run_in_parallel(ray_cluster: str, pipelines, tmp_path: Path) -> None:
    """Each branch waits inside its actor for the other to arrive: only overlapping runs pass."""
    pipe = ray_pipeline()
    pipelines.append(pipe)
    pipe.add("source", parts.Source("hi")).add("join", parts.Join())
    for branch in ("left", "right"):
        pipe.add(branch, Rendezvous(str(tmp_path), branch))
        pipe.connect("source.text", f"{branch}.value").connect(f"{branch}.value", "join.parts")
    result = pipe.run()
    assert result.outputs == {"join.text": "hi hi"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["left", "right"]
    assert {"left", "right", "total"} <= set(result.timings)


def test_optional_stage_failure_is_recorded_like_local(ray_cluster: str, pipelines) -> None:
    def build(executor: dict) -> Pipeline:
        pipe = Pipeline(executor=executor)
        pipe.add("source", parts.Source("x")).add("join", parts.Join())
        pipe.add("explode", ray_components.Fail(), optional=True)
        pipe.connect("source.text", "explode.text").connect("source.text", "join.parts")
        pipe.connect("explode.text", "join.parts")
        pipelines.append(pipe)
        return pipe

    local, remote = build({"type": "local"}).run(), build({"type": "ray", "stages": TINY}).run()
    assert remote.outputs == local.outputs == {"join.text": "x"}
    assert set(remote.errors) == set(local.errors) == {"explode"}
    assert str(remote.errors["explode"]) == str(local.errors["explode"])
    assert "explode" not in remote.timings


def test_a_crashed_actor_is_restarted_and_the_run_retried(
    ray_cluster: str, pipelines, tmp_path: Path
) -> None:
    def build(marker: Path, **stage: int) -> Pipeline:
        pipe = ray_pipeline(stages={**TINY, "crash": stage})
        pipe.add("crash", ray_components.CrashOnce(str(marker))).add_input("text", "crash.text")
        pipelines.append(pipe)
        return pipe

    with pytest.raises(ComponentRunError, match=r"stage 'crash' \(ray_test_crash_once\)"):
        build(tmp_path / "a", max_restarts=0).run({"text": "a"})
    retried = build(tmp_path / "b", max_restarts=1, max_task_retries=1).run({"text": "b"})
    assert retried.outputs == {"crash.text": "b"}


def test_cli_index_and_query_with_executor_ray(
    ray_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ragloom index/query --executor ray` (joining the cluster named by RAY_ADDRESS) agree
    with an index built and queried in-process."""
    bm25 = ROOT / "examples" / "bm25.yaml"
    local_dir, ray_dir = tmp_path / "local", tmp_path / "ray"
    local = RAG.from_file(bm25, local_dir)
    local.index([CORPUS])
    expected = local.query(QUESTIONS[2])
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    common = ["-c", str(bm25), "--index-dir", str(ray_dir), "--executor", "ray", "--json"]
    report = json.loads(ragloom_cli("index", str(CORPUS), *common).stdout)
    assert report["stored"] == local.chunk_counts()
    got = json.loads(ragloom_cli("query", QUESTIONS[2], *common).stdout)
    assert [h["chunk_id"] for h in got["hits"]] == [h.chunk.id for h in expected.hits]
    assert [h["score"] for h in got["hits"]] == pytest.approx([h.score for h in expected.hits])
    assert expected.answer is not None and got["answer"] == expected.answer.text
    assert set(got["timings"]) == {"retriever", "answerer", "total"}


def test_same_hits_as_local_on_scifact_queries(
    ray_cluster: str, scifact_slice: Path, tmp_path: Path
) -> None:
    """SciFact claims over a 30-abstract slice: the Ray query pipeline ranks like the local one."""
    from ragloom.config import load_config
    from ragloom.evaluation.beir import load_queries

    index_dir = tmp_path / "index"
    local = RAG.from_file(HYBRID, index_dir)
    local.index([scifact_slice / "corpus.jsonl"])
    config = load_config(HYBRID)  # tiny CPU shares: the module's other Ray pipeline holds some
    config.query.executor = {"type": "ray", "stages": TINY}
    on_ray = RAG(config, index_dir)
    try:
        for claim in load_queries(scifact_slice).values():
            expected, got = local.query(claim), on_ray.query(claim)
            assert [cid for cid, _ in _hits(got)] == [cid for cid, _ in _hits(expected)]
            assert [s for _, s in _hits(got)] == pytest.approx(
                [s for _, s in _hits(expected)], abs=1e-6
            )
    finally:
        on_ray.close()
