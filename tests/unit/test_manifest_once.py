"""A manifest parsed once per version: the same object until a commit replaces the file."""

from __future__ import annotations

from pathlib import Path

from ragloom.manifest import read_manifest, read_manifest_once, write_manifest


def test_the_manifest_is_parsed_again_only_after_it_is_replaced(tmp_path: Path) -> None:
    assert read_manifest_once(tmp_path) is None
    write_manifest(tmp_path, {"format_version": 3, "encoder": {"model": "minilm"}})
    first = read_manifest_once(tmp_path)
    assert first == read_manifest(tmp_path)
    assert read_manifest_once(tmp_path) is first
    write_manifest(tmp_path, {"format_version": 3, "encoder": {"model": "other"}})
    second = read_manifest_once(tmp_path)
    assert second is not first and second is not None
    assert second["encoder"] == {"model": "other"}
    (tmp_path / "manifest.json").unlink()
    assert read_manifest_once(tmp_path) is None
