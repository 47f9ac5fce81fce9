"""The shared JSONL reader: records with line numbers, one-line errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragloom.errors import ConfigError
from ragloom.jsonl import JsonlError, get_field, parse_object, read_jsonl


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_records_come_with_line_numbers_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    # U+2028 inside a string is not a line break; a BOM and CRLF endings are tolerated.
    path = write(tmp_path / "a.jsonl", '\ufeff{"a": 1}\r\n\n  \n{"b": "x\u2028y"}\n')
    lines = list(read_jsonl(path))
    assert [(n, w, r) for n, w, r in lines] == [
        (1, f"{path}:1", {"a": 1}),
        (4, f"{path}:4", {"b": "x\u2028y"}),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"a": ', "invalid JSON: Expecting value"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"text"', "expected a JSON object, got str"),
    ],
)
def test_a_bad_line_is_an_error_naming_file_and_line(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = write(tmp_path / "bad.jsonl", '{"ok": true}\n' + line + "\n")
    with pytest.raises(JsonlError) as info:
        list(read_jsonl(path))
    assert str(info.value) == f"{path}:2: {reason}"
    assert info.value.where == f"{path}:2" and "\n" not in str(info.value)
    assert isinstance(info.value, ConfigError)  # the CLI prints it without a traceback


def test_undecodable_and_missing_files_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    with pytest.raises(JsonlError, match=r"latin\.jsonl:2: not UTF-8 text"):
        list(read_jsonl(path))
    with pytest.raises(JsonlError, match=r"nowhere\.jsonl: cannot read"):
        list(read_jsonl(tmp_path / "nowhere.jsonl"))


def test_get_field_names_the_field_and_what_it_must_be() -> None:
    record = {"q": "  ", "n": 3, "ids": ["a", 2], "ok": ["x"]}
    with pytest.raises(JsonlError) as info:
        get_field(record, "text", "string", "f.jsonl:7")
    assert str(info.value) == "f.jsonl:7: missing field 'text' (fields: q, n, ids, ok)"
    with pytest.raises(JsonlError, match=r"^f\.jsonl:7: field 'n' must be a string, got int$"):
        get_field(record, "n", "string", "f.jsonl:7")
    with pytest.raises(JsonlError, match=r"field 'q' must be a non-empty string, got '  '"):
        get_field(record, "q", "text", "f.jsonl:7")
    with pytest.raises(JsonlError, match=r"field 'ids' must be a list of strings, got list"):
        get_field(record, "ids", "strings", "f.jsonl:7")
    assert get_field(record, "ok", "texts", "f.jsonl:7") == ["x"]
    assert get_field(record, "absent", "texts", "f.jsonl:7", default=[]) == []
    assert get_field({"id": 5}, "id", "id", "w") == 5
    with pytest.raises(JsonlError, match="must be a string or integer, got bool"):
        get_field({"id": True}, "id", "id", "w")


def test_parse_object_accepts_what_orjson_refuses() -> None:
    # NaN and integers past 64 bits fall back to the standard library.
    assert parse_object('{"x": NaN, "big": 18446744073709551616}', "f", 1)["big"] == 2**64
    assert parse_object(b'{"x": 1}', "f", 1) == {"x": 1}
