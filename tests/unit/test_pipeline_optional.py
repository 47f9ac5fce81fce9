"""Stage failures: a failing stage names itself; an `optional` one lets the run go on without it."""

from __future__ import annotations

import logging

import pytest

from ragloom import registry
from ragloom.errors import ComponentRunError, PipelineValidationError
from ragloom.pipeline import Pipeline
from ragloom.retrievers.fusion import ReciprocalRankFusion, ScoreFusion
from ragloom.types import Hit
from tests.unit.components_for_tests import Fail, FixedHits, Join, Scale, Source, Upper


@pytest.fixture(autouse=True)
def _light_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """YAML resolves the fusion stages and the test components only (no heavy stage imports)."""
    monkeypatch.setattr(registry, "_BUILTIN_MODULES", ("ragloom.retrievers.fusion",))
    monkeypatch.setattr(registry, "_loaded", False)


def _hybrid(fusion: ScoreFusion | ReciprocalRankFusion, *, bm25_optional: bool) -> Pipeline:
    pipe = Pipeline()
    pipe.add("bm25", Fail("index offline"), optional=bm25_optional)
    pipe.add("dense", FixedHits(source="dense", ids=["a", "b", "c"]))
    pipe.add("fusion", fusion)
    pipe.connect("bm25.hits", "fusion.hits")
    pipe.connect("dense.hits", "fusion.hits")
    pipe.add_input("query", "bm25.query", "dense.query")
    pipe.add_output("hits", "fusion.hits")
    return pipe


def _ids(hits: list[Hit]) -> list[str]:
    return [hit.chunk.id for hit in hits]


def test_a_failing_stage_fails_the_run_naming_the_stage() -> None:
    pipe = _hybrid(ScoreFusion(), bm25_optional=False)
    with pytest.raises(ComponentRunError) as info:
        pipe.run({"query": "q"})
    assert info.value.stage == "bm25"
    assert info.value.component_type == "test_fail"
    assert isinstance(info.value.cause, ConnectionError)
    assert "stage 'bm25' (test_fail) failed: ConnectionError: index offline" in str(info.value)


@pytest.mark.parametrize("fusion", [ScoreFusion(method="minmax"), ReciprocalRankFusion()])
def test_an_optional_failing_retriever_leaves_the_other_sources_hits(
    fusion: ScoreFusion | ReciprocalRankFusion, caplog: pytest.LogCaptureFixture
) -> None:
    pipe = _hybrid(fusion, bm25_optional=True)
    with caplog.at_level(logging.WARNING, logger="ragloom.pipeline.local"):
        result = pipe.run({"query": "q"})
    assert _ids(result["hits"]) == ["a", "b", "c"]
    assert {s for hit in result["hits"] for s in hit.source_ranks} == {"dense"}
    assert list(result.errors) == ["bm25"]
    error = result.errors["bm25"]
    assert (error.stage, error.component_type) == ("bm25", "test_fail")
    assert isinstance(error.cause, ConnectionError)
    assert "bm25" not in result.timings and "fusion" in result.timings
    assert any("'bm25'" in r.message and "index offline" in r.message for r in caplog.records)


def test_a_successful_run_records_no_errors() -> None:
    pipe = (
        Pipeline().add("dense", FixedHits(source="dense", ids=["a"])).add("fusion", ScoreFusion())
    )
    pipe.connect("dense.hits", "fusion.hits").add_input("query", "dense.query")
    assert pipe.run({"query": "q"}).errors == {}


def test_every_optional_sender_failing_gives_a_variadic_input_no_lists() -> None:
    pipe = Pipeline()
    pipe.add("bm25", Fail(), optional=True).add("dense", Fail(), optional=True)
    pipe.add("fusion", ScoreFusion())
    pipe.connect("bm25.hits", "fusion.hits").connect("dense.hits", "fusion.hits")
    pipe.add_input("query", "bm25.query", "dense.query")
    result = pipe.run({"query": "q"})
    assert result.outputs == {"fusion.hits": []}
    assert sorted(result.errors) == ["bm25", "dense"]


def test_an_input_with_a_default_keeps_it_when_its_optional_sender_fails() -> None:
    pipe = Pipeline().add("broken", Fail(), optional=True).add("scale", Scale(factor=2.0))
    pipe.connect("broken.value", "scale.offset")
    pipe.add_input("query", "broken.query").add_input("value", "scale.value")
    result = pipe.run({"query": "q", "value": 3.0})
    assert result.outputs == {"scale.value": 6.0}
    assert list(result.errors) == ["broken"]


def test_a_required_input_from_an_optional_stage_needs_an_optional_receiver() -> None:
    pipe = Pipeline().add("broken", Fail(), optional=True).add("upper", Upper())
    pipe.connect("broken.text", "upper.text").add_input("query", "broken.query")
    with pytest.raises(PipelineValidationError) as info:
        pipe.validate()
    (problem,) = info.value.problems
    assert (problem.component, problem.field) == ("upper", "text")
    assert "comes from optional stage 'broken'" in problem.message
    assert "mark 'upper' optional too" in problem.message


def test_an_optional_branch_is_skipped_as_a_whole() -> None:
    pipe = Pipeline()
    pipe.add("broken", Fail(), optional=True)
    pipe.add("upper", Upper(suffix="!"), optional=True)
    pipe.add("source", Source("kept"))
    pipe.add("join", Join())
    pipe.connect("broken.text", "upper.text")
    pipe.connect("upper.text", "join.parts").connect("source.text", "join.parts")
    pipe.add_input("query", "broken.query")
    result = pipe.run({"query": "q"})
    assert result.outputs == {"join.text": "kept"}
    assert list(result.errors) == ["broken", "upper"]
    assert "skipped: required input 'text' comes from failed stage 'broken'" in str(
        result.errors["upper"]
    )


def test_an_output_of_a_failed_optional_stage_is_left_out() -> None:
    pipe = _hybrid(ScoreFusion(), bm25_optional=True)
    pipe.add_output("bm25_hits", "bm25.hits")
    result = pipe.run({"query": "q"})
    assert set(result.outputs) == {"hits"}
    with pytest.raises(KeyError, match=r"'bm25_hits' was not produced.*stage 'bm25'"):
        result["bm25_hits"]


def test_a_non_optional_failure_still_fails_beside_an_optional_one() -> None:
    pipe = Pipeline().add("a", Fail("first"), optional=True).add("b", Fail("second"))
    pipe.add("fusion", ScoreFusion())
    pipe.connect("a.hits", "fusion.hits").connect("b.hits", "fusion.hits")
    pipe.add_input("query", "a.query", "b.query")
    with pytest.raises(ComponentRunError, match="stage 'b'"):
        pipe.run({"query": "q"})


# -- YAML -------------------------------------------------------------------------------------

HYBRID_YAML = """\
components:
  bm25:
    type: test_fail
    init_parameters: {message: index offline}
    optional: true
  dense:
    type: test_hits
    init_parameters: {source: dense, ids: [a, b]}
  fusion:
    type: score_fusion
    init_parameters: {method: dbsf, top_k: 5, weights: {bm25: 0.3, dense: 0.7}}
connections:
  - {sender: bm25.hits, receiver: fusion.hits}
  - {sender: dense.hits, receiver: fusion.hits}
inputs:
  query: [bm25.query, dense.query]
outputs:
  hits: fusion.hits
"""


def test_optional_round_trips_through_yaml() -> None:
    pipe = Pipeline.from_yaml_text(HYBRID_YAML)
    assert pipe.optional == {"bm25"}
    data = pipe.to_dict()
    assert data["components"]["bm25"]["optional"] is True
    assert "optional" not in data["components"]["dense"]
    again = Pipeline.from_yaml_text(pipe.to_yaml())
    assert again.optional == {"bm25"}
    assert again.to_dict() == data
    result = again.run({"query": "q"})
    assert _ids(result["hits"]) == ["a", "b"]
    assert list(result.errors) == ["bm25"]


def test_optional_must_be_a_boolean_in_yaml() -> None:
    text = HYBRID_YAML.replace("optional: true", 'optional: "sometimes"')
    with pytest.raises(PipelineValidationError) as info:
        Pipeline.from_yaml_text(text)
    (problem,) = info.value.problems
    assert (problem.component, problem.field) == ("bm25", "optional")
    assert problem.line == 5
    assert "optional must be true or false, got 'sometimes'" in problem.message


def test_optional_must_be_a_boolean_in_python() -> None:
    with pytest.raises(PipelineValidationError, match="optional must be true or false"):
        Pipeline().add("bm25", Fail(), optional="yes")  # type: ignore[arg-type]


def test_yaml_reports_a_required_input_from_an_optional_stage_with_its_line() -> None:
    text = """\
components:
  broken: {type: test_fail, optional: true}
  upper: {type: test_upper}
connections:
  - {sender: broken.text, receiver: upper.text}
inputs:
  query: broken.query
"""
    with pytest.raises(PipelineValidationError) as info:
        Pipeline.from_yaml_text(text)
    (problem,) = info.value.problems
    assert problem.line == 3
    assert "comes from optional stage 'broken'" in problem.message
    fixed = Pipeline.from_yaml_text(
        text.replace("{type: test_upper}", "{type: test_upper, optional: true}")
    )
    assert fixed.optional == {"broken", "upper"}
