"""The component contract: typed `run()` inputs, named typed outputs, serialisable config.

A component keeps only serialisable configuration in `__init__` (captured automatically and
validated against the signature's type hints), loads anything heavy in `warm_up()`, and
round-trips through `{"type": ..., "init_parameters": {...}}`. A subclass whose `__init__`
ends in `**kwargs` inherits its parent's parameters (declarations, defaults and validation):
it declares only what it adds or narrows and passes the rest on with `super().__init__`.

Example::

    @register("upper")
    class Upper(Component):
        def __init__(self, suffix: str = ""):
            self.suffix = suffix

        @output_types(text=str)
        def run(self, text: str) -> dict[str, Any]:
            return {"text": text.upper() + self.suffix}

    @register("upper_twice")
    class UpperTwice(Upper):  # takes `suffix` too, checked as Upper declares it
        def __init__(self, times: PositiveInt = 2, **inherited: Any):
            super().__init__(**inherited)
            self.times = times
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pydantic
from pydantic import PositiveInt
from pydantic_core import PydanticCustomError, to_jsonable_python

from ragloom.errors import ComponentConfigError, Problem

VARIADIC = "ragloom.variadic"
T = typing.TypeVar("T")
R = typing.TypeVar("R")
#: A socket that accepts any number of connections; the component receives a list of them.
Variadic = typing.Annotated[list[T], VARIADIC]


def output_types(**types: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a `run` method's named outputs and their types."""

    def mark(run: Callable[..., Any]) -> Callable[..., Any]:
        run._ragloom_outputs = dict(types)  # type: ignore[attr-defined]
        return run

    return mark


@dataclass(frozen=True)
class InputSocket:
    name: str
    type: Any
    required: bool
    default: Any = None
    variadic: bool = False


@dataclass(frozen=True)
class OutputSocket:
    name: str
    type: Any


class Component:
    """Base class of every pipeline stage."""

    type_name: ClassVar[str] = ""

    _init_parameters: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _capturing_init(cls, cls.__dict__["__init__"])  # type: ignore[method-assign]

    def bind_index(self, index_dir: Path) -> None:
        """Told the pipeline's index directory before warm-up; stores keep their data there."""

    def warm_up(self) -> None:
        """Load models or open stores. Called once before the first run; must be idempotent."""

    def run(self, **inputs: Any) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def registered_name(cls) -> str:
        """The name this exact class is registered under ('' if unregistered; not inherited)."""
        return str(cls.__dict__.get("type_name", ""))

    @property
    def init_parameters(self) -> dict[str, Any]:
        return copy.deepcopy(getattr(self, "_init_parameters", {}))

    def to_dict(self) -> dict[str, Any]:
        """The serialisation envelope: `{"type": name, "init_parameters": {...}}`."""
        return {"type": type(self).label(), "init_parameters": self.init_parameters}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Component:
        params = data.get("init_parameters") or {}
        if not isinstance(params, dict):
            raise ComponentConfigError(
                Problem(
                    f"{cls.label()}: init_parameters must be a mapping", field="init_parameters"
                )
            )
        problems = []
        try:
            check_parameter_names(cls, params)
        except ComponentConfigError as exc:
            problems.extend(exc.problems)
            params = {k: v for k, v in params.items() if k in _init_fields(cls)}
        try:
            component = cls(**params)
        except ComponentConfigError as exc:
            problems.extend(p for p in exc.problems if p.field not in {q.field for q in problems})
        if problems:
            raise ComponentConfigError(problems)
        return component

    @classmethod
    def label(cls) -> str:
        """The registered type name, else the class name: what errors call this component."""
        return cls.registered_name() or cls.__name__

    @classmethod
    def input_sockets(cls) -> dict[str, InputSocket]:
        return _input_sockets(cls)

    @classmethod
    def output_sockets(cls) -> dict[str, OutputSocket]:
        declared = getattr(cls.run, "_ragloom_outputs", None)
        if declared is None:
            raise TypeError(f"{cls.__name__}.run has no @output_types(...) declaration")
        return {name: OutputSocket(name, tp) for name, tp in declared.items()}

    @classmethod
    def init_parameter_specs(cls) -> dict[str, tuple[Any, Any]]:
        """Parameter name -> (type, default or inspect.Parameter.empty), for docs and the CLI."""
        return {name: (tp, default) for name, (tp, default) in _init_fields(cls).items()}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.init_parameters.items())
        return f"{type(self).__name__}({params})"


def check_parameter_names(cls: type[Component], params: dict[str, Any]) -> None:
    """Reject parameters the component does not have, suggesting the closest valid name."""
    fields = _init_fields(cls)
    problems = []
    for name in params:
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            valid = ", ".join(fields) or "(none)"
            problems.append(
                Problem(
                    f"{cls.label()}: unknown parameter {name!r}{hint} Valid parameters: {valid}",
                    field=name,
                )
            )
    if problems:
        raise ComponentConfigError(problems)


def check_override(owner: str, name: str, tp: Any, value: Any) -> Any:
    """A per-call override (a `top_k` passed to one query) checked strictly against the type
    its parameter declares, so it is refused exactly as the same value in YAML would be."""
    try:
        return _adapter(tp).validate_python(value)
    except pydantic.ValidationError as exc:
        raise ComponentConfigError(_problems(exc, owner, name)) from None


def check_top_k(value: Any, owner: str) -> int:
    """The one check of a per-call `top_k` (RAG.query, the CLI's --top-k, the LangChain
    retriever): a positive integer, as every stage's `top_k` parameter declares."""
    return int(check_override(owner, "top_k", PositiveInt, value))


@functools.cache
def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(tp, config=pydantic.ConfigDict(strict=True))


def _capturing_init(cls: type, init: Callable[..., None]) -> Callable[..., None]:
    signature = inspect.signature(init)
    forward = next((p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), None)

    @functools.wraps(init)
    def wrapper(self: Component, *args: Any, **kwargs: Any) -> None:
        label = type(self).label()
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            check_parameter_names(type(self), kwargs)
            raise ComponentConfigError(Problem(f"{label}: {exc}")) from None
        bound.apply_defaults()
        arguments = {k: v for k, v in bound.arguments.items() if k not in ("self", forward)}
        if forward is not None:  # the parent's parameters, passed on through **kwargs
            inherited = bound.arguments.get(forward, {})
            check_parameter_names(type(self), inherited)
            arguments |= inherited
        validated = _validate(cls, arguments, label)
        init(self, **validated)
        self._init_parameters = to_jsonable_python(validated)

    return wrapper


def _problems(exc: pydantic.ValidationError, label: str, field: str = "") -> list[Problem]:
    """One one-line Problem per pydantic error, naming the component, the field and the value."""
    problems = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else field
        problems.append(
            Problem(
                f"{label}: parameter {name!r}: {err['msg']} (got {err.get('input')!r})",
                field=name,
            )
        )
    return problems


def _validate(cls: type, arguments: dict[str, Any], label: str) -> dict[str, Any]:
    """Every parameter of `cls`, validated (defaults filled in), in declaration order."""
    model = _init_model(cls)
    try:
        validated = model.model_validate(arguments)
    except pydantic.ValidationError as exc:
        raise ComponentConfigError(_problems(exc, label)) from None
    return {name: getattr(validated, name) for name in _init_fields(cls)}


def _per_class(compute: Callable[[Any], R]) -> Callable[[Any], R]:
    """Memoise a function of a class (signatures never change after class creation)."""
    results: dict[type, R] = {}

    @functools.wraps(compute)
    def cached(cls: Any) -> R:
        if cls not in results:
            results[cls] = compute(cls)
        return results[cls]

    return cached


@_per_class
def _init_fields(cls: Any) -> dict[str, tuple[Any, Any]]:
    """`__init__`'s parameters; with `**kwargs`, the parent's first (a redeclared one keeps
    its place and takes the subclass's type and default), then the subclass's new ones."""
    owner = next(c for c in cls.__mro__ if "__init__" in c.__dict__)
    init = getattr(owner.__init__, "__wrapped__", owner.__init__)
    hints = typing.get_type_hints(init, include_extras=True)
    fields: dict[str, tuple[Any, Any]] = {}
    forwards = False
    for name, param in inspect.signature(init).parameters.items():
        if param.kind is param.VAR_KEYWORD:
            forwards = True
        elif name != "self" and param.kind is not param.VAR_POSITIONAL:
            fields[name] = (hints.get(name, Any), param.default)
    return {**_parent_fields(owner), **fields} if forwards else fields


def _parent_fields(owner: type) -> dict[str, tuple[Any, Any]]:
    """The parameters `owner`'s `super().__init__` takes (none above the first component)."""
    parent = next((c for c in owner.__mro__[1:] if "__init__" in c.__dict__), object)
    if parent is object or not issubclass(parent, Component):
        return {}
    return _init_fields(parent)


@_per_class
def _init_model(cls: Any) -> type[pydantic.BaseModel]:
    """The pydantic model of `__init__`'s parameters, in strict mode: `true` is not a number and
    `"512"` is not an integer (an int is still a valid float)."""
    definitions: dict[str, Any] = {}
    for name, (tp, default) in _init_fields(cls).items():
        default = ... if default is inspect.Parameter.empty else default
        definitions[name] = (_refuse_bool_in_int_literals(tp), default)
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True)
    return pydantic.create_model(f"{cls.__name__}Config", __config__=config, **definitions)


def _refuse_bool(expected: str, value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": expected}
        )
    return value


def _refuse_bool_in_int_literals(tp: Any) -> Any:
    """`tp` with every `Literal[1, 2]` (inside Optional, unions, Annotated) refusing `True`,
    which even strict mode lets through because `True == 1`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        if any(type(v) is int for v in args) and not any(isinstance(v, bool) for v in args):
            expected = " or ".join(repr(v) for v in args)
            return typing.Annotated[
                tp, pydantic.BeforeValidator(functools.partial(_refuse_bool, expected))
            ]
        return tp
    if origin is typing.Annotated:
        return typing.Annotated[(_refuse_bool_in_int_literals(args[0]), *tp.__metadata__)]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_refuse_bool_in_int_literals(a) for a in args)]  # noqa: UP007
    return tp


@_per_class
def _input_sockets(cls: Any) -> dict[str, InputSocket]:
    hints = typing.get_type_hints(cls.run, include_extras=True)
    sockets = {}
    for name, param in inspect.signature(cls.run).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        tp = hints.get(name, Any)
        variadic = False
        if typing.get_origin(tp) is typing.Annotated and VARIADIC in tp.__metadata__:
            variadic = True
            tp = typing.get_args(typing.get_args(tp)[0])[0]
        required = param.default is inspect.Parameter.empty
        default = None if required else param.default
        sockets[name] = InputSocket(name, tp, required, default, variadic)
    return sockets
