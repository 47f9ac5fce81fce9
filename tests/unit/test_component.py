"""The component contract: captured, validated config; sockets from `run`; clear errors."""

from __future__ import annotations

import inspect
from typing import Any, Literal

import pytest
from pydantic import PositiveInt

from ragloom.component import Component, InputSocket, OutputSocket, output_types
from ragloom.errors import ComponentConfigError, ConfigError
from ragloom.registry import register
from tests.unit.components_for_tests import Join, Length, Scale, Source, Upper


@register("test_component_base")
class Base(Component):
    def __init__(self, size: int, label: str = "x"):
        self.size = size
        self.label_text = label

    @output_types(out=int)
    def run(self, value: int) -> dict[str, Any]:
        return {"out": value + self.size}


@register("test_component_sub")
class RegisteredSub(Base):
    """Inherits `__init__` from Base."""


class UnregisteredSub(Base):
    """Inherits `__init__` and, today, Base's `type_name` too."""


class Extended(Base):
    """Declares only what it adds (`times`) or narrows (`label`); inherits `size`."""

    def __init__(self, times: PositiveInt = 2, label: Literal["x", "y"] = "y", **inherited: Any):
        super().__init__(label=label, **inherited)
        self.times = times


class NoOutputs(Component):
    def run(self, text: str) -> dict[str, Any]:
        return {"text": text}


class NoInit(Component):
    @output_types(text=str)
    def run(self) -> dict[str, Any]:
        return {"text": ""}


# -- init parameters and the serialisation envelope -------------------------------------------


def test_to_dict_captures_defaults() -> None:
    assert Upper().to_dict() == {
        "type": "test_upper",
        "init_parameters": {"suffix": "", "mode": "plain", "repeat": 1},
    }


def test_to_dict_captures_positional_and_keyword_arguments() -> None:
    upper = Upper("!", repeat=2)
    assert upper.init_parameters == {"suffix": "!", "mode": "plain", "repeat": 2}
    assert (upper.suffix, upper.repeat) == ("!", 2)


def test_from_dict_round_trip() -> None:
    original = Upper(suffix="?", mode="title", repeat=3)
    copy = Upper.from_dict(original.to_dict())
    assert isinstance(copy, Upper)
    assert copy.to_dict() == original.to_dict()
    assert copy.run("ab") == {"text": "AbAbAb?"}


def test_from_dict_without_init_parameters_uses_defaults() -> None:
    assert Upper.from_dict({"type": "test_upper"}).init_parameters["repeat"] == 1
    assert (
        Upper.from_dict({"type": "test_upper", "init_parameters": None}).to_dict()
        == Upper().to_dict()
    )


def test_init_parameters_are_stored_as_validated() -> None:
    assert Scale(factor=2).init_parameters == {"factor": 2.0}
    assert isinstance(Scale(factor=2).factor, float)


def test_init_parameters_is_a_copy() -> None:
    upper = Upper()
    upper.init_parameters["suffix"] = "changed"
    assert upper.init_parameters["suffix"] == ""


def test_component_without_init_has_no_parameters() -> None:
    assert NoInit().to_dict() == {"type": "NoInit", "init_parameters": {}}
    assert isinstance(NoInit.from_dict({"init_parameters": {}}), NoInit)


def test_repr_shows_parameters() -> None:
    assert repr(Upper(suffix="!")) == "Upper(suffix='!', mode='plain', repeat=1)"


def test_init_parameter_specs() -> None:
    specs = Base.init_parameter_specs()
    assert specs == {"size": (int, inspect.Parameter.empty), "label": (str, "x")}


# -- parameter errors -------------------------------------------------------------------------


UNKNOWN = ["test_upper: unknown parameter 'sufix'", "did you mean 'suffix'?"]


@pytest.mark.parametrize(
    ("make", "field", "says"),
    [
        pytest.param(
            lambda: Upper(sufix="!"),
            "sufix",
            [*UNKNOWN, "Valid parameters: suffix, mode, repeat"],
            id="unknown-in-constructor",
        ),
        pytest.param(
            lambda: Upper.from_dict({"type": "test_upper", "init_parameters": {"sufix": "!"}}),
            "sufix",
            [*UNKNOWN, "Valid parameters: suffix, mode, repeat"],
            id="unknown-in-from_dict",
        ),
        pytest.param(
            lambda: Upper(repeat="many"),
            "repeat",
            ["test_upper: parameter 'repeat'", "valid integer", "'many'"],
            id="wrong-type",
        ),
        pytest.param(
            lambda: Upper(mode="shout"),
            "mode",
            ["test_upper: parameter 'mode'", "'plain'", "'title'"],
            id="literal-lists-allowed-values",
        ),
    ],
)
def test_a_bad_parameter_is_one_problem_naming_it(make: Any, field: str, says: list[str]) -> None:
    with pytest.raises(ComponentConfigError) as info:
        make()
    [problem] = info.value.problems
    assert problem.field == field
    for words in says:
        assert words in problem.message


def test_unknown_parameter_on_component_without_parameters() -> None:
    with pytest.raises(
        ComponentConfigError, match=r"unknown parameter 'x'.*Valid parameters: \(none\)"
    ):
        NoInit.from_dict({"init_parameters": {"x": 1}})


def test_init_parameters_must_be_a_mapping() -> None:
    with pytest.raises(ComponentConfigError, match="init_parameters must be a mapping") as info:
        Upper.from_dict({"type": "test_upper", "init_parameters": ["!"]})
    assert info.value.problems[0].field == "init_parameters"


def test_every_wrong_parameter_is_reported() -> None:
    with pytest.raises(ComponentConfigError) as info:
        Upper(suffix=3, repeat="x")
    assert sorted(p.field for p in info.value.problems) == ["repeat", "suffix"]


def test_missing_required_parameter_is_named() -> None:
    with pytest.raises(ComponentConfigError, match=r"test_component_base: .*'size'"):
        Base()  # type: ignore[call-arg]


def test_config_errors_are_config_errors() -> None:
    assert issubclass(ComponentConfigError, ConfigError)


def test_subclass_inheriting_init_gets_its_own_label() -> None:
    with pytest.raises(ComponentConfigError, match=r"^test_component_sub: parameter 'size'"):
        RegisteredSub(size="big")
    with pytest.raises(
        ComponentConfigError, match=r"^test_component_sub: unknown parameter 'sise'"
    ):
        RegisteredSub(sise=1)
    sub = RegisteredSub(size=2)
    assert sub.to_dict() == {
        "type": "test_component_sub",
        "init_parameters": {"size": 2, "label": "x"},
    }
    assert sub.run(1) == {"out": 3}


def test_unregistered_subclass_is_labelled_with_its_own_name() -> None:
    assert UnregisteredSub.label() == "UnregisteredSub"
    assert UnregisteredSub(size=1).to_dict()["type"] == "UnregisteredSub"


def test_subclass_with_kwargs_inherits_parameters_and_their_validation() -> None:
    assert list(Extended.init_parameter_specs()) == ["size", "label", "times"]
    ext = Extended(size=3, times=4)
    assert (ext.size, ext.label_text, ext.times) == (3, "y", 4)
    assert ext.init_parameters == {"size": 3, "label": "y", "times": 4}
    assert Extended.from_dict(ext.to_dict()).init_parameters == ext.init_parameters
    with pytest.raises(ComponentConfigError) as info:
        Extended(size="3", label="z", times=0)
    assert [str(p) for p in info.value.problems] == [
        "Extended: parameter 'size': Input should be a valid integer (got '3')",
        "Extended: parameter 'label': Input should be 'x' or 'y' (got 'z')",
        "Extended: parameter 'times': Input should be greater than 0 (got 0)",
    ]
    with pytest.raises(ComponentConfigError, match=r"^Extended: parameter 'size': Field required"):
        Extended()
    with pytest.raises(
        ComponentConfigError, match=r"unknown parameter 'sise'; did you mean 'size'"
    ):
        Extended(sise=1)


# -- sockets ----------------------------------------------------------------------------------


def test_required_input_socket() -> None:
    assert Upper.input_sockets() == {"text": InputSocket("text", str, required=True)}


def test_optional_input_socket_keeps_its_default() -> None:
    sockets = Scale.input_sockets()
    assert sockets["value"] == InputSocket("value", float, required=True)
    assert sockets["offset"] == InputSocket("offset", float, required=False, default=0.0)


def test_variadic_input_socket_has_the_element_type() -> None:
    assert Join.input_sockets() == {
        "parts": InputSocket("parts", str, required=True, variadic=True)
    }


def test_component_without_inputs() -> None:
    assert Source.input_sockets() == {}


def test_output_sockets_come_from_output_types() -> None:
    assert Length.output_sockets() == {"length": OutputSocket("length", int)}


def test_missing_output_types_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"NoOutputs\.run has no @output_types"):
        NoOutputs.output_sockets()


def test_inherited_run_keeps_sockets() -> None:
    assert RegisteredSub.input_sockets() == {"value": InputSocket("value", int, required=True)}
    assert RegisteredSub.output_sockets() == {"out": OutputSocket("out", int)}


# -- registry ---------------------------------------------------------------------------------


def test_register_sets_type_name() -> None:
    assert Upper.type_name == "test_upper"
    assert Upper.label() == "test_upper"


def test_register_the_same_class_twice_is_harmless() -> None:
    assert register("test_upper")(Upper) is Upper


def test_register_refuses_a_taken_name() -> None:
    class Other(Component):
        @output_types(text=str)
        def run(self) -> dict[str, Any]:
            return {"text": ""}

    with pytest.raises(ValueError, match=r"'test_upper' is already registered by .*Upper"):
        register("test_upper")(Other)
    assert Other.type_name == ""


def test_register_refuses_a_non_component() -> None:
    with pytest.raises(TypeError, match="needs a Component subclass"):
        register("test_not_a_component")(dict)  # type: ignore[arg-type]
