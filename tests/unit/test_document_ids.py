"""Issue 14.9: a file's document id comes from the path given, never from the working directory.

A file found under a folder given to the loader is named by that folder's name and its path
inside it; a file given itself, by its file name. Two files with one name are refused; an index
whose ids came from the working directory (manifest format 1 or 2) is marked `legacy_ids`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ragloom.errors import ConfigError
from ragloom.indexing.changes import check_moves, file_names
from ragloom.indexing.journal import Journal
from ragloom.loaders import FileLoader, LoaderError, iter_documents, path_id
from ragloom.manifest import FORMAT_VERSION, may_hold_legacy_ids, read_manifest
from ragloom.types import Document


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ids(paths: list[str | Path]) -> list[str]:
    return [doc.id for doc in iter_documents(paths)]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/project/docs/{a.md, sub/b.txt, records.jsonl} and an unrelated tmp/elsewhere/."""
    docs = tmp_path / "project" / "docs"
    write(docs / "a.md", "# A\nalpha")
    write(docs / "sub" / "b.txt", "beta")
    records = [{"id": "own", "text": "a record with its id"}, {"text": "a record without"}]
    write(docs / "records.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "elsewhere").mkdir()
    return tmp_path


EXPECTED = ["docs/a.md", "own", "docs/records.jsonl:2", "docs/sub/b.txt"]


def test_a_folder_gets_the_same_ids_from_any_working_directory(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tree / "project" / "docs"
    monkeypatch.chdir(tree / "project")
    assert ids(["docs"]) == ids(["./docs/"]) == ids([docs]) == EXPECTED
    monkeypatch.chdir(docs)
    assert ids(["."]) == ids(["../docs"]) == EXPECTED
    monkeypatch.chdir(docs / "sub")
    assert ids([".."]) == EXPECTED
    monkeypatch.chdir(tree / "elsewhere")
    assert ids([docs / "sub" / ".."]) == ids([os.path.relpath(docs)]) == EXPECTED
    sources = {doc.metadata["source"] for doc in iter_documents([docs])}
    assert sources == {"docs/a.md", "docs/records.jsonl", "docs/sub/b.txt"}


def test_a_file_given_itself_goes_by_its_file_name(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tree / "project" / "docs"
    monkeypatch.chdir(tree / "elsewhere")
    assert ids([docs / "sub" / "b.txt"]) == ["b.txt"]
    assert ids([docs / "records.jsonl"]) == ["own", "records.jsonl:2"]
    # Reached from a folder given too, in either order: named from the folder.
    assert ids([docs / "sub" / "b.txt", docs / "sub"]) == ["sub/b.txt"]
    assert sorted(ids([docs / "sub", docs])) == sorted(EXPECTED)  # the outermost names it


def test_path_id_needs_no_working_directory(tmp_path: Path) -> None:
    assert path_id("/srv/docs/guide/a.md", "/srv/docs") == "docs/guide/a.md"
    assert path_id("/srv/docs/guide/a.md", "/srv/docs/") == "docs/guide/a.md"
    assert path_id("/srv/docs/guide/a.md", "/srv/docs/guide/..") == "docs/guide/a.md"
    assert path_id("/srv/docs/guide/a.md") == "a.md"
    assert path_id("/a.md", "/") == "a.md"
    with pytest.raises(ValueError, match="not inside"):
        path_id("/srv/notes/a.md", "/srv/docs")


def test_two_files_with_one_id_are_refused_naming_both(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "docs" / "x.md", "one")
    second = write(tmp_path / "b" / "docs" / "x.md", "two")
    with pytest.raises(LoaderError) as folders:
        iter_documents([tmp_path / "a" / "docs", tmp_path / "b" / "docs"])
    message = str(folders.value)
    assert "'docs/x.md'" in message
    assert first.as_posix() in message and second.as_posix() in message
    assert "\n" not in message
    with pytest.raises(LoaderError, match=r"document id 'x\.md' would name two files"):
        iter_documents([first, second])
    # Folders of different names keep their files apart; so do their parents.
    write(tmp_path / "a" / "en" / "x.md", "three")
    assert ids([tmp_path / "a" / "en", tmp_path / "a" / "docs"]) == ["en/x.md", "docs/x.md"]
    assert ids([tmp_path / "a", tmp_path / "b"]) == ["a/docs/x.md", "a/en/x.md", "b/docs/x.md"]


def test_skipped_files_are_named_by_their_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "docs" / "ok.txt", "fine")
    (tmp_path / "docs" / "logo.txt").write_bytes(b"\x89PNG\x00\x00")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    stream = iter_documents([tmp_path / "docs"])
    assert [doc.id for doc in stream] == ["docs/ok.txt"]
    assert [str(entry) for entry in stream.skipped] == [
        "docs/logo.txt: binary file (contains NUL bytes)"
    ]


def test_the_loader_reports_the_files_it_read_by_id_with_their_paths(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tree / "project" / "docs"
    monkeypatch.chdir(tree / "project")
    files = FileLoader().load(["docs"], known={})["files"]
    assert files == {
        "docs/a.md": str(docs / "a.md"),
        "docs/records.jsonl": str(docs / "records.jsonl"),
        "docs/sub/b.txt": str(docs / "sub" / "b.txt"),
    }


def test_a_file_may_be_indexed_under_its_path_from_any_folder_above_it(tmp_path: Path) -> None:
    names = file_names("/srv/project/docs/a.md")
    assert names[:4] == ["srv/project/docs/a.md", "project/docs/a.md", "docs/a.md", "a.md"]
    assert "/srv/project/docs/a.md" in names
    real = write(tmp_path / "real" / "a.md", "x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    linked = file_names(str(tmp_path / "link" / "a.md"))
    assert "link/a.md" in linked and "real/a.md" in linked and real.as_posix() in linked


def test_manifests_before_format_3_may_hold_legacy_ids(tmp_path: Path) -> None:
    assert FORMAT_VERSION == 3
    assert not may_hold_legacy_ids(None)
    assert may_hold_legacy_ids({"format_version": 2})
    assert may_hold_legacy_ids({"format_version": 1, "documents": {}})
    assert may_hold_legacy_ids({"format_version": 3, "legacy_ids": True})
    assert not may_hold_legacy_ids({"format_version": 3})


def test_the_journal_keeps_the_legacy_mark_only_while_it_holds_documents(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"format_version": 2, "encoder": None}))
    empty = Journal(old, read_manifest(old), {"encoder": None})
    assert not empty.legacy_ids  # an empty index holds no former id
    empty.begin(["x.md"])
    empty.commit({"x.md": "h"})
    empty.close()
    (old / "manifest.json").write_text(json.dumps({"format_version": 2, "encoder": None}))
    journal = Journal(old, read_manifest(old), {"encoder": None})
    assert journal.legacy_ids
    journal.save()
    manifest = read_manifest(old)
    assert manifest is not None
    assert (manifest["format_version"], manifest["legacy_ids"]) == (3, True)
    journal.clear_legacy_ids()
    journal.save()
    journal.close()
    assert "legacy_ids" not in (read_manifest(old) or {})
    reopened = Journal(old, read_manifest(old), {"encoder": None})
    assert not reopened.legacy_ids
    reopened.close()


def test_a_newer_manifest_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 4}))
    with pytest.raises(Exception, match="index format 4 is not supported"):
        read_manifest(tmp_path)


def test_a_record_read_through_another_name_of_its_file_is_not_a_reused_id(
    tmp_path: Path,
) -> None:
    data = write(tmp_path / "corpus" / "records.jsonl", "")
    journal = Journal(tmp_path / "index", None, {})
    journal.begin(["r1"])
    journal.commit({"r1": "h"}, sources={"r1": "records.jsonl"})  # the file given on its own
    again = Document(text="t", id="r1", metadata={"source": "corpus/records.jsonl"})
    check_moves([again], {"corpus/records.jsonl": str(data)}, journal)  # now via its folder
    other = write(tmp_path / "other" / "more.jsonl", "")
    reused = Document(text="t", id="r1", metadata={"source": "other/more.jsonl"})
    with pytest.raises(ConfigError, match=r"'r1': in other/more\.jsonl, and already indexed from"):
        check_moves([reused], {"other/more.jsonl": str(other)}, journal)
    journal.close()
