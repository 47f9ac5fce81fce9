"""A broken manifest.json, an index directory that is a file and one that cannot be written:
`ragloom index` and `ragloom query` answer with one line naming the path and what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.cli import app

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
