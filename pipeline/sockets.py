"""Socket type rules: which output types may feed which input types, checked at build time."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

_UNION_ORIGINS = (typing.Union, types.UnionType)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in _UNION_ORIGINS


def is_compatible(sender: Any, receiver: Any) -> bool:
    """True when every value of type `sender` is acceptable where `receiver` is expected."""
    if sender is Any or receiver is Any or sender == receiver:
        return True
    if _is_union(sender):
        return all(is_compatible(arm, receiver) for arm in typing.get_args(sender))
    if _is_union(receiver):
        return any(is_compatible(sender, arm) for arm in typing.get_args(receiver))
    if receiver is float and sender is int:
        return True
    s_origin, r_origin = typing.get_origin(sender), typing.get_origin(receiver)
    if s_origin is None and r_origin is None:
        return (
            isinstance(sender, type) and isinstance(receiver, type) and issubclass(sender, receiver)
        )
    if r_origin is None and isinstance(receiver, type) and isinstance(s_origin, type):
        return issubclass(s_origin, receiver)  # list[int] fits a bare `list`
    if s_origin is None or r_origin is None:
        return False
    if not (isinstance(s_origin, type) and isinstance(r_origin, type)):
        return s_origin == r_origin and typing.get_args(sender) == typing.get_args(receiver)
    if not issubclass(s_origin, r_origin):
        return False
    s_args, r_args = typing.get_args(sender), typing.get_args(receiver)
    if not r_args:
        return True
    if len(s_args) != len(r_args):
        return False
    return all(is_compatible(s, r) for s, r in zip(s_args, r_args, strict=True))


_CONSTRAINTS = {
    "gt": ">",
    "ge": ">=",
    "lt": "<",
    "le": "<=",
    "min_length": "len >=",
    "max_length": "len <=",
}


def _constraints(metadata: tuple[Any, ...]) -> list[str]:
    found = []
    for item in metadata:
        for sub in getattr(item, "metadata", [item]):
            for attr, symbol in _CONSTRAINTS.items():
                value = getattr(sub, attr, None)
                if value is not None and not callable(value):
                    found.append(f"{symbol} {value}")
    return found


def is_constrained(tp: Any) -> bool:
    """True when `tp` carries value constraints anywhere (`PositiveInt`, `Field(gt=0)`, also
    inside `| None`), so a value of the right Python type may still be refused."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return bool(_constraints(tp.__metadata__)) or is_constrained(args[0])
    return any(is_constrained(arg) for arg in args)


def type_repr(tp: Any) -> str:
    """A short readable name for a socket or parameter type: `list[Chunk]`, `int (> 0) | None`."""
    if tp is Any:
        return "Any"
    if tp is None or tp is type(None):
        return "None"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        base = type_repr(args[0])
        rules = _constraints(tp.__metadata__)
        return f"{base} ({', '.join(rules)})" if rules else base
    if origin in _UNION_ORIGINS:
        return " | ".join(type_repr(arm) for arm in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_repr(a) for a in args)}]" if args else name
    if isinstance(tp, type):
        return tp.__name__
    return re.sub(r"\b(?:[a-zA-Z_][\w]*\.)+([A-Za-z_]\w*)", r"\1", str(tp))
