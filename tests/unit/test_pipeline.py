"""The Python pipeline API: build-time checks, validation, and the in-process executor."""

from __future__ import annotations

import threading
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import annotated_types
import pytest

from ragloom.component import Component, output_types
from ragloom.errors import ComponentRunError, PipelineValidationError
from ragloom.pipeline import Pipeline
from ragloom.pipeline.sockets import is_compatible, type_repr
from ragloom.types import Chunk, Document, Hit
from tests.unit.components_for_tests import Join, Length, Scale, Sleep, Source, Upper


class SubChunk(Chunk):
    """A Chunk subclass, for socket compatibility."""


class Recorder(Component):
    """Counts lifecycle calls (unregistered on purpose: its label is its class name)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def bind_index(self, index_dir: Path) -> None:
        self.calls.append(("bind_index", index_dir))

    def warm_up(self) -> None:
        self.calls.append(("warm_up", None))

    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        self.calls.append(("run", text))
        return {"text": text}


class Exploding(Component):
    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        raise KeyError("boom")


class ForgetsAnOutput(Component):
    @output_types(text=str, length=int)
    def run(self, text: str) -> dict[str, Any]:
        return {"text": text}


class ReturnsAList(Component):
    @output_types(text=str)
    def run(self, text: str) -> Any:
        return [text]


class NoOutputs(Component):
    def run(self, text: str) -> dict[str, Any]:
        return {"text": text}


#: Barriers by name, shared by the Rendezvous stages of one test.
BARRIERS: dict[str, threading.Barrier] = {}


class Rendezvous(Component):
    """Waits at the barrier `key` inside run(): all parties pass only if they run at once.

    Run one after another, the first breaks the barrier when `limit_s` (a hang guard, not a
    measurement) runs out, so the pipeline fails.
    """

    def __init__(self, key: str, limit_s: float = 60.0):
        self.key = key
        self.limit_s = limit_s

    @output_types(value=Any)
    def run(self, value: Any) -> dict[str, Any]:
        BARRIERS[self.key].wait(timeout=self.limit_s)
        return {"value": value}


def problems_of(info: pytest.ExceptionInfo[PipelineValidationError]) -> list[str]:
    return [p.message for p in info.value.problems]


@pytest.fixture
def chain() -> Pipeline:
    """source -> upper -> length, with `upper.text` consumed."""
    pipe = Pipeline()
    pipe.add("source", Source(value="abc")).add("upper", Upper(suffix="!")).add("length", Length())
    pipe.connect("source.text", "upper.text").connect("upper.text", "length.text")
    return pipe


# -- socket type rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "receiver", "ok"),
    [
        (int, int, True),
        (Any, str, True),
        (str, Any, True),
        (int, float, True),
        (float, int, False),
        (bool, int, True),
        (str, int, False),
        (str, str | None, True),
        (str, typing.Optional[str], True),  # noqa: UP045 - the old spelling must work too
        (type(None), str | None, True),
        (str | None, str, False),
        (int | str, str | int | None, True),
        (int | str, str, False),
        (list[int], list[int], True),
        (list[int], list[str], False),
        (list[str], Sequence[str], True),
        (Sequence[str], list[str], False),
        (dict[str, int], Mapping[str, float], True),
        (dict[str, int], dict[str, str], False),
        (list[int], dict[int, int], False),
        (SubChunk, Chunk, True),
        (Chunk, SubChunk, False),
        (list[SubChunk], list[Chunk], True),
        (Chunk, Document, False),
        (list[Hit], list[Chunk], False),
        (list[Chunk], Chunk, False),
        (typing.Literal["a"], typing.Literal["a"], True),
        (typing.Literal["a"], typing.Literal["b"], False),
    ],
)
def test_is_compatible(sender: Any, receiver: Any, ok: bool) -> None:
    assert is_compatible(sender, receiver) is ok


def test_parametrised_sender_fits_a_bare_container_receiver() -> None:
    assert is_compatible(list[int], list)
    assert is_compatible(dict[str, int], dict)


@pytest.mark.parametrize(
    ("tp", "text"),
    [
        (Any, "Any"),
        (int, "int"),
        (Chunk, "Chunk"),
        (list[Chunk], "list[Chunk]"),
        (dict[str, list[Hit]], "dict[str, list[Hit]]"),
        (str | None, "str | None"),
        (typing.Optional[str], "str | None"),  # noqa: UP045 - the old spelling
        (type(None), "None"),
        (typing.Literal["a", "b"], "'a' | 'b'"),
        (typing.Annotated[int, annotated_types.Gt(0)] | None, "int (> 0) | None"),
    ],
)
def test_type_repr(tp: Any, text: str) -> None:
    assert type_repr(tp) == text


# -- building ---------------------------------------------------------------------------------


def test_building_methods_chain(chain: Pipeline) -> None:
    assert list(chain.components) == ["source", "upper", "length"]
    assert [(str(c.sender), str(c.receiver)) for c in chain.connections] == [
        ("source.text", "upper.text"),
        ("upper.text", "length.text"),
    ]
    assert chain.add_output("n", "length.length") is chain
    assert str(chain.outputs["n"]) == "length.length"


def test_add_rejects_duplicate_name() -> None:
    pipe = Pipeline().add("upper", Upper())
    with pytest.raises(PipelineValidationError, match="'upper' is already in the pipeline"):
        pipe.add("upper", Upper())


@pytest.mark.parametrize("name", ["a.b", "", "1st", "with space"])
def test_add_rejects_invalid_name(name: str) -> None:
    with pytest.raises(PipelineValidationError, match="invalid component name"):
        Pipeline().add(name, Upper())


def test_add_rejects_non_component() -> None:
    with pytest.raises(PipelineValidationError, match="must be a ragloom Component, got str"):
        Pipeline().add("upper", "Upper()")  # type: ignore[arg-type]


def test_add_rejects_component_without_output_types() -> None:
    with pytest.raises(PipelineValidationError, match="output_types"):
        Pipeline().add("bad", NoOutputs())


def test_connect_unknown_component_lists_components(chain: Pipeline) -> None:
    with pytest.raises(PipelineValidationError) as info:
        chain.connect("uper.text", "length.text")
    assert problems_of(info) == ["no component named 'uper'; components are: source, upper, length"]
    assert info.value.problems[0].component == "uper"


def test_connect_unknown_output_lists_outputs_with_types() -> None:
    pipe = Pipeline().add("length", Length()).add("upper", Upper())
    with pytest.raises(PipelineValidationError) as info:
        pipe.connect("length.len", "upper.text")
    assert problems_of(info) == ["length has no output 'len'; outputs are: length (int)"]
    assert (info.value.problems[0].component, info.value.problems[0].field) == ("length", "len")


def test_connect_unknown_input_lists_inputs_with_types() -> None:
    pipe = Pipeline().add("source", Source()).add("scale", Scale())
    with pytest.raises(PipelineValidationError) as info:
        pipe.connect("source.text", "scale.txt")
    assert problems_of(info) == [
        "scale has no input 'txt'; inputs are: value (float), offset (float)"
    ]


@pytest.mark.parametrize("address", ["upper", "a.b.c", ""])
def test_connect_rejects_malformed_address(address: str) -> None:
    pipe = Pipeline().add("upper", Upper())
    with pytest.raises(PipelineValidationError, match=r"is not of the form 'component\.socket'"):
        pipe.connect(address, "upper.text")


def test_connect_type_mismatch_names_both_sides() -> None:
    pipe = Pipeline().add("length", Length()).add("upper", Upper())
    with pytest.raises(PipelineValidationError) as info:
        pipe.connect("length.length", "upper.text")
    assert problems_of(info) == ["type mismatch: length.length is int but upper.text expects str"]
    assert not pipe.connections


def test_connect_int_to_float_is_allowed() -> None:
    pipe = Pipeline().add("length", Length()).add("scale", Scale())
    pipe.connect("length.length", "scale.value")
    assert len(pipe.connections) == 1


def test_double_feeding_a_non_variadic_input_is_refused() -> None:
    pipe = Pipeline().add("a", Source()).add("b", Source()).add("upper", Upper())
    pipe.connect("a.text", "upper.text")
    with pytest.raises(PipelineValidationError, match=r"upper\.text is already fed"):
        pipe.connect("b.text", "upper.text")


def test_connecting_a_socket_that_is_a_pipeline_input_is_refused() -> None:
    pipe = Pipeline().add("a", Source()).add("upper", Upper()).add_input("text", "upper.text")
    with pytest.raises(PipelineValidationError, match=r"upper\.text is already fed"):
        pipe.connect("a.text", "upper.text")


def test_input_on_a_connected_socket_is_refused() -> None:
    pipe = Pipeline().add("a", Source()).add("upper", Upper()).connect("a.text", "upper.text")
    with pytest.raises(PipelineValidationError, match="cannot also be an input"):
        pipe.add_input("text", "upper.text")


def test_two_pipeline_inputs_on_one_socket_are_refused() -> None:
    pipe = Pipeline().add("upper", Upper()).add_input("a", "upper.text")
    with pytest.raises(PipelineValidationError):
        pipe.add_input("b", "upper.text")


def test_add_input_needs_a_target() -> None:
    with pytest.raises(PipelineValidationError, match="feeds no socket"):
        Pipeline().add_input("query")


def test_add_input_checks_the_socket() -> None:
    pipe = Pipeline().add("upper", Upper())
    with pytest.raises(PipelineValidationError, match="upper has no input 'txt'"):
        pipe.add_input("text", "upper.txt")


def test_add_output_checks_the_socket() -> None:
    pipe = Pipeline().add("upper", Upper())
    with pytest.raises(
        PipelineValidationError, match=r"upper has no output 'txt'; outputs are: text \(str\)"
    ):
        pipe.add_output("out", "upper.txt")


def test_variadic_input_takes_several_senders() -> None:
    pipe = Pipeline().add("a", Source()).add("b", Source()).add("join", Join())
    pipe.connect("a.text", "join.parts").connect("b.text", "join.parts")
    pipe.validate()


# -- validation -------------------------------------------------------------------------------


def test_cycle_is_reported_with_its_components() -> None:
    pipe = Pipeline().add("first", Upper()).add("second", Upper())
    pipe.connect("first.text", "second.text").connect("second.text", "first.text")
    with pytest.raises(PipelineValidationError, match="cycle through: first, second"):
        pipe.validate()
    with pytest.raises(PipelineValidationError, match="cycle"):
        pipe.run()


def test_self_loop_is_a_cycle() -> None:
    pipe = Pipeline().add("upper", Upper()).connect("upper.text", "upper.text")
    with pytest.raises(PipelineValidationError, match="cycle through: upper"):
        pipe.topological_order()


def test_topological_order(chain: Pipeline) -> None:
    assert chain.topological_order() == ["source", "upper", "length"]


def test_missing_required_input_is_reported_by_validate() -> None:
    pipe = Pipeline().add("upper", Upper()).add("scale", Scale())
    with pytest.raises(PipelineValidationError) as info:
        pipe.validate()
    found = {(p.component, p.field) for p in info.value.problems}
    assert found == {("upper", "text"), ("scale", "value")}
    upper = next(p.message for p in info.value.problems if p.component == "upper")
    assert "upper" in upper
    assert "(test_upper): required input 'text' (str) is neither connected" in upper


def test_missing_input_message_names_an_unregistered_type() -> None:
    with pytest.raises(PipelineValidationError, match=r"recorder'? \(Recorder\)"):
        Pipeline().add("recorder", Recorder()).validate()


def test_valid_pipeline_has_no_problems(chain: Pipeline) -> None:
    assert list(chain.problems()) == []
    chain.validate()


# -- running ----------------------------------------------------------------------------------


def test_run_passes_values_along(chain: Pipeline) -> None:
    result = chain.run()
    assert result.outputs == {"length.length": 4}
    assert result["length.length"] == 4


def test_outputs_default_to_every_unconsumed_output() -> None:
    pipe = (
        Pipeline().add("source", Source(value="ab")).add("upper", Upper()).add("length", Length())
    )
    pipe.connect("source.text", "upper.text").connect("source.text", "length.text")
    assert pipe.run().outputs == {"upper.text": "AB", "length.length": 2}


def test_declared_outputs_replace_the_default(chain: Pipeline) -> None:
    chain.add_output("shout", "upper.text")
    assert chain.run().outputs == {"shout": "ABC!"}


def test_pipeline_inputs_feed_every_target() -> None:
    pipe = Pipeline().add("upper", Upper()).add("length", Length())
    pipe.add_input("text", "upper.text", "length.text")
    assert pipe.run({"text": "hey"}).outputs == {"upper.text": "HEY", "length.length": 3}
    assert pipe.required_inputs() == {"text"}


def test_optional_pipeline_input_may_be_left_out() -> None:
    pipe = Pipeline().add("scale", Scale(factor=2)).add_input("value", "scale.value")
    pipe.add_input("offset", "scale.offset")
    assert pipe.required_inputs() == {"value"}
    assert pipe.run({"value": 3}).outputs == {"scale.value": 6.0}
    assert pipe.run({"value": 3, "offset": 1.5}).outputs == {"scale.value": 7.5}


def test_run_rejects_unknown_inputs_and_lists_declared_ones() -> None:
    pipe = Pipeline().add("upper", Upper()).add_input("text", "upper.text")
    with pytest.raises(PipelineValidationError) as info:
        pipe.run({"text": "a", "txt": "b"})
    assert problems_of(info) == ["unknown pipeline input(s) ['txt']; the pipeline takes: text"]


def test_run_reports_missing_required_inputs() -> None:
    pipe = Pipeline().add("upper", Upper()).add_input("text", "upper.text")
    with pytest.raises(
        PipelineValidationError, match=r"missing required pipeline input\(s\): \['text'\]"
    ):
        pipe.run({})


def test_timings_cover_every_stage_and_total(chain: Pipeline) -> None:
    timings = chain.run().timings
    assert set(timings) == {"source", "upper", "length", "total"}
    assert all(seconds >= 0 for seconds in timings.values())
    assert timings["total"] >= max(timings["source"], timings["upper"], timings["length"])


def test_failing_stage_raises_component_run_error() -> None:
    pipe = Pipeline().add("boom", Exploding()).add_input("text", "boom.text")
    with pytest.raises(ComponentRunError) as info:
        pipe.run({"text": "x"})
    err = info.value
    assert (err.stage, err.component_type) == ("boom", "Exploding")
    assert isinstance(err.cause, KeyError)
    assert str(err) == "stage 'boom' (Exploding) failed: KeyError: 'boom'"


def test_stage_missing_a_declared_output_is_an_error() -> None:
    pipe = Pipeline().add("forgetful", ForgetsAnOutput()).add_input("text", "forgetful.text")
    with pytest.raises(
        ComponentRunError, match=r"keys \['length', 'text'\], got \['text'\]"
    ) as info:
        pipe.run({"text": "x"})
    assert info.value.stage == "forgetful"


def test_stage_returning_a_non_dict_is_an_error() -> None:
    pipe = Pipeline().add("lister", ReturnsAList()).add_input("text", "lister.text")
    with pytest.raises(ComponentRunError, match=r"must return a dict .* got list"):
        pipe.run({"text": "x"})


def test_missing_output_error_names_an_unregistered_type() -> None:
    pipe = Pipeline().add("forgetful", ForgetsAnOutput()).add_input("text", "forgetful.text")
    with pytest.raises(ComponentRunError) as info:
        pipe.run({"text": "x"})
    assert info.value.component_type == "ForgetsAnOutput"


def test_independent_branches_run_concurrently() -> None:
    """Both branches wait for each other inside run(): only overlapping runs get through."""
    BARRIERS["branches"] = threading.Barrier(2)
    pipe = Pipeline().add("left", Rendezvous("branches")).add("right", Rendezvous("branches"))
    pipe.add_input("value", "left.value", "right.value")
    result = pipe.run({"value": 7})
    assert result.outputs == {"left.value": 7, "right.value": 7}
    assert not BARRIERS["branches"].broken
    assert {"left", "right", "total"} <= set(result.timings)


def test_a_stage_waits_for_all_of_its_senders() -> None:
    pipe = Pipeline().add("slow", Sleep(seconds=0.05)).add("fast", Source(value="b"))
    pipe.add("upper", Upper()).add("join", Join())
    pipe.connect("fast.text", "upper.text")
    pipe.connect("slow.value", "join.parts").connect("upper.text", "join.parts")
    pipe.add_input("value", "slow.value")
    assert pipe.run({"value": "a"}).outputs == {"join.text": "a B"}


def test_variadic_input_gets_one_value_per_connection_in_connection_order() -> None:
    pipe = Pipeline().add("join", Join(separator=","))
    for name in ("a", "b", "c"):
        pipe.add(name, Source(value=name))
    for name in ("c", "a", "b"):
        pipe.connect(f"{name}.text", "join.parts")
    assert pipe.run().outputs == {"join.text": "c,a,b"}


def test_variadic_input_can_also_be_a_pipeline_input() -> None:
    pipe = Pipeline().add("a", Source(value="a")).add("join", Join())
    pipe.connect("a.text", "join.parts").add_input("extra", "join.parts")
    assert pipe.run({"extra": "z"}).outputs == {"join.text": "a z"}


def test_warm_up_once_per_component_across_runs() -> None:
    pipe = Pipeline().add("one", Recorder()).add("two", Recorder())
    pipe.connect("one.text", "two.text").add_input("text", "one.text")
    pipe.run({"text": "x"})
    pipe.run({"text": "y"})
    for name in ("one", "two"):
        calls = pipe.components[name].calls  # type: ignore[attr-defined]
        assert [c for c, _ in calls] == ["bind_index", "warm_up", "run", "run"]


def test_bind_index_gets_the_default_index_dir() -> None:
    pipe = Pipeline().add("rec", Recorder()).add_input("text", "rec.text")
    assert pipe.index_dir is None
    pipe.run({"text": "x"})
    assert pipe.components["rec"].calls[0] == ("bind_index", Path(".ragloom"))  # type: ignore[attr-defined]


def test_bind_index_gets_the_pipeline_index_dir(tmp_path: Path) -> None:
    pipe = Pipeline(index_dir=str(tmp_path)).add("rec", Recorder())
    pipe.warm_up()
    assert pipe.index_dir == tmp_path
    assert pipe.components["rec"].calls == [("bind_index", tmp_path), ("warm_up", None)]  # type: ignore[attr-defined]


def test_a_chain_runs_on_the_calling_thread_and_starts_no_thread() -> None:
    seen: list[str] = []

    class WhereAmI(Component):
        @output_types(text=str)
        def run(self, text: str = "") -> dict[str, Any]:
            seen.append(threading.current_thread().name)
            return {"text": text}

    pipe = Pipeline().add("first", WhereAmI()).add("second", WhereAmI())
    pipe.connect("first.text", "second.text")
    before = threading.active_count()
    pipe.run()
    assert seen == [threading.current_thread().name] * 2
    assert threading.active_count() == before


def test_max_workers_one_runs_branches_one_after_another() -> None:
    seen: list[str] = []

    class WhereAmI(Component):
        @output_types(text=str)
        def run(self) -> dict[str, Any]:
            seen.append(threading.current_thread().name)
            return {"text": ""}

    pipe = Pipeline(executor={"type": "local", "max_workers": 1})
    pipe.add("a", WhereAmI()).add("b", WhereAmI()).add("c", WhereAmI())
    pipe.run()
    assert seen == [threading.current_thread().name] * 3
