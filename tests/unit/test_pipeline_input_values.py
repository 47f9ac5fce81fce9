"""Pipeline inputs into constrained sockets are checked before a run, as parameters are when
the YAML loads: `Pipeline.run` with a `top_k` of 0 fails with RAG.query's one-line error."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from pydantic import PositiveInt

from ragloom.component import Component, check_top_k, output_types
from ragloom.errors import ComponentConfigError, PipelineValidationError
from ragloom.pipeline import Pipeline
from ragloom.pipeline.sockets import is_constrained
from ragloom.rerank.langchain_compressor import CrossEncoderCompressor
from ragloom.retrievers.fusion import ReciprocalRankFusion


class Take(Component):
    """Declares its constraint on the run() socket itself (no parameter of the same name)."""

    @output_types(items=list[int])
    def run(self, items: list[int], count: PositiveInt = 1) -> dict[str, Any]:
        return {"items": items[:count]}


def _fusion(input_name: str = "top_k") -> Pipeline:
    pipe = Pipeline().add("fusion", ReciprocalRankFusion())
    return pipe.add_input("hits", "fusion.hits").add_input(input_name, "fusion.top_k")


@pytest.mark.parametrize(
    "value,reason",
    [
        (0, "Input should be greater than 0 (got 0)"),
        (-2, "Input should be greater than 0 (got -2)"),
        ("5", "Input should be a valid integer (got '5')"),
        (True, "Input should be a valid integer (got True)"),
    ],
)
def test_a_top_k_input_is_checked_as_the_top_k_parameter(value: Any, reason: str) -> None:
    with pytest.raises(ComponentConfigError) as info:
        _fusion().run({"hits": [], "top_k": value})
    [problem] = info.value.problems
    assert str(problem) == f"fusion (rrf_fusion): parameter 'top_k': {reason}"
    assert (problem.component, problem.field) == ("fusion", "top_k")
    with pytest.raises(ComponentConfigError) as same:
        check_top_k(value, "query")  # RAG.query's check: the same words
    assert str(same.value) == f"query: parameter 'top_k': {reason}"


def test_good_values_and_none_run() -> None:
    assert _fusion().run({"hits": [], "top_k": 3}).outputs == {"fusion.hits": []}
    assert _fusion().run({"hits": [], "top_k": None}).outputs == {"fusion.hits": []}
    assert _fusion().run({"hits": []}).outputs == {"fusion.hits": []}


def test_an_input_named_otherwise_is_named_in_the_error() -> None:
    with pytest.raises(ComponentConfigError) as info:
        _fusion("k").run({"hits": [], "k": 0})
    assert str(info.value) == (
        "pipeline input 'k' into fusion (rrf_fusion): parameter 'top_k': "
        "Input should be greater than 0 (got 0)"
    )


def test_a_constrained_socket_is_checked() -> None:
    pipe = Pipeline().add("take", Take()).add_input("items", "take.items")
    pipe.add_input("count", "take.count")
    assert pipe.run({"items": [1, 2, 3], "count": 2}).outputs == {"take.items": [1, 2]}
    with pytest.raises(ComponentConfigError, match=r"^take \(Take\): parameter 'count': Input"):
        pipe.run({"items": [1, 2, 3], "count": 0})


def test_unknown_inputs_are_still_reported_first() -> None:
    with pytest.raises(PipelineValidationError, match="unknown pipeline input"):
        _fusion().run({"hits": [], "top_k": 0, "nope": 1})


def test_is_constrained() -> None:
    assert is_constrained(PositiveInt)
    assert is_constrained(PositiveInt | None)
    assert is_constrained(list[PositiveInt])
    assert not is_constrained(int | None)
    assert not is_constrained(list[dict[str, str]])


@pytest.mark.parametrize("value", [0, -1, "5", True])
def test_the_langchain_compressor_refuses_what_every_stage_refuses(value: Any) -> None:
    with pytest.raises(pydantic.ValidationError, match="top_k"):
        CrossEncoderCompressor(model="unused", top_k=value)
    assert CrossEncoderCompressor(model="unused", top_k=3).top_k == 3  # no model loads
