"""A broken manifest.json, an index directory that is a file and one that cannot be written:
`ragloom index` and `ragloom query` answer with one line naming the path and what to do."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BM25 = str(ROOT / "examples" / "bm25.yaml")
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    out = result.output
    assert "Traceback" not in out and "RAGLOOM_DEBUG" not in out, out  # a message, not a crash
    assert len(out.strip().splitlines()) == 1, out
    return result.exit_code, out.strip()


def _index(docs: Path, index_dir: Path) -> tuple[int, str]:
    return _run("index", str(docs), "-c", BM25, "--index-dir", str(index_dir))


def _query(index_dir: Path) -> tuple[int, str]:
    return _run("query", "bm25", "-c", BM25, "--index-dir", str(index_dir))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("built")
    docs = root / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("BM25 is a ranking function for lexical search.", "utf-8")
    result = runner.invoke(app, ["index", str(docs), "-c", BM25, "--index-dir", str(root / "ix")])
    assert result.exit_code == 0, result.output
    return docs, root / "ix"


@pytest.mark.parametrize(
    ("manifest", "needle"),
    [
        ("[]", "a JSON object is needed, not list"),
        ('{"documents": "x"}', "field 'format_version': Field required"),
        ('{"format_version": 2, "documents": "x"}', "field 'documents'"),
        ('{"format_version": 2, "encoder": [1]}', "field 'encoder'"),
        ('{"format_version": 1, "documents": {"a": 3}, "pending": []}', "field 'documents.a'"),
        ('{"format_version": 2, "pipeline": "x"}', "field 'pipeline'"),
    ],
)
def test_a_manifest_of_the_wrong_shape_names_the_file_and_field(
    built: tuple[Path, Path], tmp_path: Path, manifest: str, needle: str
) -> None:
    docs, index = built
    broken = tmp_path / "ix"
    shutil.copytree(index, broken)
    (broken / "manifest.json").write_text(manifest, "utf-8")
    for code, out in (_index(docs, broken), _query(broken)):
        assert code != 0
        assert f"{broken / 'manifest.json'}: invalid index manifest: " in out, out
        assert needle in out, out


def test_an_index_directory_that_is_a_file_says_choose_another(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    docs, _ = built
    file = tmp_path / "not-a-dir"
    file.write_text("x", "utf-8")
    for code, out in (_index(docs, file), _query(file)):
        assert code != 0
        assert out == f"error: index directory {file} is a file: choose another --index-dir"
    below = file / "ix"
    for code, out in (_index(docs, below), _query(below)):
        assert code != 0
        assert out == (
            f"error: index directory {below} is under {file}, a file: choose another --index-dir"
        )


def _unwritable_for_everyone() -> Path | None:
    """A directory not even root may create files in (sysfs), when this machine has one."""
    path = Path("/sys/kernel")
    if not path.is_dir():
        return None
    try:
        (path / "ragloom-probe").touch()
    except OSError:
        return path
    (path / "ragloom-probe").unlink()
    return None


def test_an_unwritable_index_directory_says_check_permissions(built: tuple[Path, Path]) -> None:
    docs, _ = built
    target = _unwritable_for_everyone()
    if target is None:
        pytest.skip("no directory here refuses writes even to root (/sys/kernel is writable)")
    code, out = _index(docs, target)
    assert code != 0
    assert out.startswith(f"error: cannot write to index directory {target}: "), out
    assert "permission denied" in out or "read-only file system" in out, out


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only directory")
def test_a_read_only_index_directory_says_check_permissions(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    docs, index = built
    locked = tmp_path / "ix"
    shutil.copytree(index, locked)
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code, out = _index(docs, locked)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert code != 0
    assert out == (
        f"error: cannot write to index directory {locked}: permission denied (check its "
        "owner/permissions, or choose another --index-dir)"
    )


def test_the_writer_lock_itself_refuses_a_file_or_unwritable_directory(tmp_path: Path) -> None:
    # index_paths (what a Python caller may use without RAG.index) takes the lock first.
    from ragloom.indexing.lock import index_lock

    afile = tmp_path / "file"
    afile.write_text("x")
    with (
        pytest.raises(ConfigError, match="is a file: choose another --index-dir"),
        index_lock(afile),
    ):
        pass
