"""One metadata filter language for every retriever: the where-syntax of Chroma and MongoDB.

A filter is a JSON object. ``{"team": "red"}`` is equality; an operator object compares:
``{"year": {"$gte": 2020}}``. Field operators: ``$eq $ne $gt $gte $lt $lte $in $nin`` (and
``$not`` around them); logical ones: ``$and`` / ``$or`` (a list of filters) and ``$not`` (a
filter). Several fields in one object, or several operators on one field, must all hold.

Semantics (the same in BM25 and dense retrieval; `matches` is the reference):

- A chunk's fields are its metadata's *scalar* values (string, number, boolean) plus
  ``doc_id``, the chunk's document. A field holding a list, an object or null counts as missing.
- A missing field fails every operator but ``$ne`` and ``$nin``, which it passes.
- Types never mix: ``true`` is not ``1``, ``"2020"`` is not ``2020``; ints and floats compare
  as numbers (``2020 == 2020.0``). A value of another type fails ``$eq``/``$in`` and passes
  ``$ne``/``$nin``. ``$gt $gte $lt $lte`` take a number and match numeric fields only.
- ``$not`` negates: ``{"$not": {"year": {"$gt": 2020}}}`` matches chunks without a numeric
  ``year`` too.

Filters are checked when a pipeline loads and when a request arrives: a `FilterError` names
the field and the operator. Example::

    node = parse_filter({"team": "red", "year": {"$gte": 2020}})
    matches(node, {"team": "red", "year": 2021})  # True
    to_chroma_where(node)  # {"$and": [{"team": {"$eq": "red"}}, {"year": {"$gte": 2020}}]}
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator

from ragloom.errors import ConfigError

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
LOGICAL_OPERATORS = ("$and", "$or", "$not")
RANGE_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})
LIST_OPERATORS = frozenset({"$in", "$nin"})
#: The chunk's own field: its document id (filterable like metadata).
DOC_ID = "doc_id"
#: Names a store keeps for a chunk's place in its document: not metadata, never filterable.
RESERVED_FIELDS = ("start", "end", "position", "metadata_json")
_NEGATED = {"$eq": "$ne", "$ne": "$eq", "$in": "$nin", "$nin": "$in"}
_FLIPPED = {"$and": "$or", "$or": "$and"}
Scalar = str | bool | int | float


class FilterError(ConfigError):
    """A filter that is not in the language; the message names the field and the operator."""


class Untranslatable(Exception):
    """A filter Chroma's `where` cannot express exactly (a `$not` around a range operator)."""


@dataclass(frozen=True)
class Condition:
    """`field` `op` `value`: one field operator (`value` a tuple for `$in`/`$nin`)."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Logical:
    """`$and` / `$or` over `items`, or `$not` of its single item."""

    op: str
    items: tuple[Filter, ...]


Filter = Condition | Logical


def kind(value: Any) -> str | None:
    """The type a filter compares by: "bool", "number", "str", or None (not filterable)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def _fail(where: str, message: str) -> FilterError:
    return FilterError(f"filters: {where}: {message}" if where else f"filters: {message}")


def _scalar(value: Any, where: str) -> Scalar:
    """A comparable value: a string, a finite number or a boolean."""
    if kind(value) is None:
        raise _fail(
            where, f"needs a string, number or boolean, got {type(value).__name__} {value!r}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(where, f"needs a finite number, got {value!r}")
    return value  # type: ignore[no-any-return]


def _operand(field: str, op: str, value: Any) -> Any:
    """The checked operand of `field` `op`."""
    where = f"field {field!r}, operator {op}"
    if op in LIST_OPERATORS:
        if not isinstance(value, list | tuple) or not value:
            raise _fail(where, f"needs a non-empty list of values, got {value!r}")
        return tuple(_scalar(item, where) for item in value)
    value = _scalar(value, where)
    if op in RANGE_OPERATORS and kind(value) != "number":
        raise _fail(where, f"compares numbers only, got {type(value).__name__} {value!r}")
    return value


def _unknown(name: str, valid: tuple[str, ...], where: str, hint: str = "") -> FilterError:
    close = difflib.get_close_matches(name, valid, n=1)
    maybe = f" (did you mean {close[0]}?)" if close else ""
    return _fail(where, f"unknown operator {name!r}{maybe}; valid: {' '.join(valid)}{hint}")


def _field_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise _fail("", f"a field name must be a non-empty string, got {name!r}")
    if name in RESERVED_FIELDS:
        raise _fail(
            f"field {name!r}",
            "is a chunk's place in its document, not metadata, and cannot be filtered",
        )
    return name


def _all(items: list[Filter]) -> Filter:
    return items[0] if len(items) == 1 else Logical("$and", tuple(items))


def _parse_field(field: str, spec: Any) -> Filter:
    """The conditions on one field: a value (equality) or an operator object."""
    if not isinstance(spec, dict):
        if isinstance(spec, list | tuple):
            raise _fail(
                f"field {field!r}, operator $eq",
                f"needs one value, got a list {list(spec)!r} (use $in for any of several)",
            )
        return Condition(field, "$eq", _operand(field, "$eq", spec))
    if not spec:
        raise _fail(f"field {field!r}", 'an empty operator object; e.g. {"$eq": value}')
    items: list[Filter] = []
    for op, value in spec.items():
        if op == "$not":
            items.append(Logical("$not", (_parse_field(field, value),)))
        elif op in FIELD_OPERATORS:
            items.append(Condition(field, op, _operand(field, op, value)))
        else:
            raise _unknown(str(op), (*FIELD_OPERATORS, "$not"), f"field {field!r}")
    return _all(items)


def _parse(spec: Any, where: str) -> Filter:
    if not isinstance(spec, dict):
        raise _fail(where, f'needs an object such as {{"team": "red"}}, got {spec!r}')
    if not spec:
        raise _fail(where, "an empty filter object")
    items: list[Filter] = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _fail(f"operator {key}", f"needs a non-empty list of filters, got {value!r}")
            parts = [_parse(item, f"operator {key}, item {n}") for n, item in enumerate(value, 1)]
            items.append(parts[0] if len(parts) == 1 else Logical(key, tuple(parts)))
        elif key == "$not":
            items.append(Logical("$not", (_parse(value, "operator $not"),)))
        elif isinstance(key, str) and key.startswith("$"):
            hint = ' (field operators go inside a field: {"year": {"$gte": 2020}})'
            if key not in FIELD_OPERATORS:
                hint = ""
            raise _unknown(key, LOGICAL_OPERATORS, where, hint)
        else:
            items.append(_parse_field(_field_name(key), value))
    return _all(items)


def parse_filter(spec: Any) -> Filter | None:
    """The filter tree of a JSON filter (None for no filter: None or `{}`); FilterError
    naming the field and the operator for anything outside the language."""
    if spec is None or (isinstance(spec, dict) and not spec):
        return None
    return _parse(spec, "")


def as_filter(where: Filter | dict[str, Any] | None) -> Filter | None:
    """A filter tree as given, or parsed from its JSON form (what stores' `search` take)."""
    return where if isinstance(where, Condition | Logical) else parse_filter(where)


def check_filter(spec: Any) -> Any:
    """`spec` unchanged if it parses (a pydantic validator for `filters` parameters)."""
    try:
        parse_filter(spec)
    except FilterError as exc:
        raise ValueError(str(exc).removeprefix("filters: ")) from None
    return spec


#: A `filters` parameter: a JSON filter, checked when the component is built (YAML loads).
FilterSpec = Annotated[dict[str, Any], AfterValidator(check_filter)]


def combine(*filters: Filter | None) -> Filter | None:
    """Every given filter at once (`$and`); None if none is given."""
    present = [f for f in filters if f is not None]
    return _all(present) if present else None


def combine_specs(*specs: Any) -> dict[str, Any] | None:
    """JSON filters joined by `$and` (None or `{}` left out); None if none is given."""
    present = [s for s in specs if s]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}


# -- evaluation: the reference semantics ------------------------------------------------------


def filter_fields(doc_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What a filter sees of a chunk: its scalar metadata and its `doc_id`."""
    fields = {k: v for k, v in metadata.items() if kind(v) is not None}
    fields[DOC_ID] = doc_id
    return fields


def _equal(a: Any, b: Any) -> bool:
    return a is not None and kind(a) == kind(b) and a == b


def matches(node: Filter | None, fields: Mapping[str, Any]) -> bool:
    """Whether a chunk whose filterable fields are `fields` passes the filter."""
    if node is None:
        return True
    if isinstance(node, Logical):
        if node.op == "$and":
            return all(matches(item, fields) for item in node.items)
        if node.op == "$or":
            return any(matches(item, fields) for item in node.items)
        return not matches(node.items[0], fields)
    value = fields.get(node.field)
    if kind(value) is None:
        value = None
    op, operand = node.op, node.value
    if op == "$eq":
        return _equal(value, operand)
    if op == "$ne":
        return not _equal(value, operand)
    if op == "$in":
        return any(_equal(value, item) for item in operand)
    if op == "$nin":
        return not any(_equal(value, item) for item in operand)
    if kind(value) != "number":
        return False
    if op == "$gt":
        return bool(value > operand)
    if op == "$gte":
        return bool(value >= operand)
    if op == "$lt":
        return bool(value < operand)
    return bool(value <= operand)


# -- translation: Chroma's where ----------------------------------------------------------


def _join(op: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Chroma's `$and`/`$or` take two or more clauses: one stands alone."""
    return parts[0] if len(parts) == 1 else {op: parts}


def _value_groups(values: tuple[Any, ...]) -> list[list[Any]]:
    """`$in` values split by type (Chroma wants one type per list; numbers as floats if mixed)."""
    groups: dict[str, list[Any]] = {}
    for value in values:
        groups.setdefault(kind(value) or "", []).append(value)
    numbers = groups.get("number", [])
    if any(isinstance(v, float) for v in numbers) and any(isinstance(v, int) for v in numbers):
        groups["number"] = [float(v) for v in numbers]
    return list(groups.values())


def to_chroma_where(node: Filter | None, negate: bool = False) -> dict[str, Any] | None:
    """Chroma's `where` selecting exactly the chunks `matches` passes (given Chroma rows that
    hold a chunk's scalar metadata and `doc_id`); Untranslatable for a `$not` around a range
    operator (Chroma cannot say "missing or not a number")."""
    if node is None:
        return None
    if isinstance(node, Logical):
        if node.op == "$not":
            return to_chroma_where(node.items[0], not negate)
        parts = [to_chroma_where(item, negate) for item in node.items]
        return _join(_FLIPPED[node.op] if negate else node.op, [p for p in parts if p])
    op = node.op
    if op in RANGE_OPERATORS:
        if negate:
            raise Untranslatable(f"$not around {op} on field {node.field!r}")
        return {node.field: {op: node.value}}
    op = _NEGATED[op] if negate else op
    if op in ("$eq", "$ne"):
        return {node.field: {op: node.value}}
    groups = [{node.field: {op: group}} for group in _value_groups(node.value)]
    return _join("$or" if op == "$in" else "$and", groups)
