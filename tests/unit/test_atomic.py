"""Atomic, fsynced writes: a reader sees the old file or folder or the new one, never half."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.atomic import publish_dir, write_atomic, write_json_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    write_json_atomic(path, {"version": 1})

    def half(handle) -> None:
        handle.write(b'{"version": ')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, half)
    assert json.loads(path.read_text("utf-8")) == {"version": 1}
    write_json_atomic(path, {"version": 2})
    assert json.loads(path.read_text("utf-8")) == {"version": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_publish_dir_moves_a_whole_folder_and_refuses_an_existing_one(tmp_path: Path) -> None:
    staged = tmp_path / ".model-tmp"
    (staged / "sub").mkdir(parents=True)
    (staged / "weights.bin").write_bytes(b"w" * 10)
    (staged / "sub" / "vocab.txt").write_text("a\nb\n", "utf-8")
    publish_dir(staged, tmp_path / "model")
    assert not staged.exists()
    assert (tmp_path / "model" / "sub" / "vocab.txt").read_text("utf-8") == "a\nb\n"
    other = tmp_path / ".other-tmp"
    other.mkdir()
    (other / "x").write_bytes(b"x")
    with pytest.raises(OSError):  # a concurrent builder won: the caller decides what to do
        publish_dir(other, tmp_path / "model")
    assert (tmp_path / "model" / "weights.bin").read_bytes() == b"w" * 10
