"""Read JSONL files record by record, with one-line errors that name the file and line.

One JSON object per line; lines are split on "\\n" only (a JSON string may hold U+2028, which
`str.splitlines` breaks on) and blank lines are skipped. `read_jsonl` streams a UTF-8 file a
line at a time; the document loader, which hashes raw lines for incremental indexing, reads its
files itself and checks each line with `parse_object` and `get_field` like every other reader.

Example::

    for line in read_jsonl("qa.jsonl"):
        question = get_field(line.record, "question", "text", line.where)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ragloom.errors import ConfigError

_orjson: Any
try:  # a dependency of chromadb, so normally present
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

#: What a field may hold: kind -> (what an error says it must be, the test).
KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "text": ("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip())),
    "id": ("a string or integer", lambda v: isinstance(v, str | int) and not isinstance(v, bool)),
    "strings": (
        "a list of strings",
        lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
    ),
    "texts": (
        "a list of non-empty strings",
        lambda v: isinstance(v, list) and all(isinstance(s, str) and s.strip() for s in v),
    ),
}
_REQUIRED = object()


class JsonlError(ConfigError):
    """A JSONL line is not what its reader needs: bad JSON, not an object, a missing or
    mistyped field. `where` is "file:line" (or the file), `reason` the problem."""

    def __init__(self, where: str, reason: str):
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class Line(NamedTuple):
    """One record of a JSONL file: its line number, "file:line" for errors, the object."""

    number: int
    where: str
    record: dict[str, Any]


def parse_json(line: str | bytes) -> Any:
    """One JSON value: orjson (4x faster) when it is installed, else or when it refuses the
    line (NaN, integers past 64 bits) the standard library, whose messages are used."""
    if _orjson is not None:
        try:
            return _orjson.loads(line)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(line)


def parse_object(line: str | bytes, source: str, line_no: int) -> dict[str, Any]:
    """Line `line_no` of `source` as a JSON object; a JsonlError naming `source:line_no` if it
    is not valid JSON or not an object (the location is only built for an error)."""
    try:
        record = parse_json(line)
    except json.JSONDecodeError as exc:
        raise JsonlError(f"{source}:{line_no}", f"invalid JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        got = type(record).__name__
        raise JsonlError(f"{source}:{line_no}", f"expected a JSON object, got {got}")
    return record


def get_field(
    record: dict[str, Any], name: str, kind: str, where: str, default: Any = _REQUIRED
) -> Any:
    """`record[name]` if it is of `kind` (see KINDS); `default` when it is absent and one is
    given; else a JsonlError at `where` naming the field and what it must be."""
    if name not in record:
        if default is not _REQUIRED:
            return default
        raise JsonlError(where, f"missing field {name!r} (fields: {', '.join(record) or 'none'})")
    value = record[name]
    what, ok = KINDS[kind]
    if not ok(value):
        raise JsonlError(where, f"field {name!r} must be {what}, got {_got(value)}")
    return value


def _got(value: Any) -> str:
    """A value as an error shows it: a string quoted (cut to 40 characters), else its type."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    return "null" if value is None else type(value).__name__


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Line]:
    """Each non-blank line of a UTF-8 JSONL file as a `Line`, one line in memory at a time; a
    JsonlError for an unreadable file, an undecodable line, bad JSON or a non-object."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as handle:  # binary lines end at b"\n" only
            for line_no, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield Line(line_no, f"{source}:{line_no}", _parse_raw(raw, source, line_no))
    except OSError as exc:
        raise JsonlError(source, f"cannot read ({exc.strerror or exc})") from None


def _parse_raw(raw: bytes, source: str, line_no: int) -> dict[str, Any]:
    """A UTF-8 line (a BOM allowed on the first) as a JSON object; JsonlError otherwise."""
    try:
        line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise JsonlError(f"{source}:{line_no}", reason) from None
    return parse_object(line, source, line_no)
