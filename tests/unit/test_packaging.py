"""The wheel holds every source package, and no stage folder leaks as a top-level module."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGE_FOLDERS = ("pipeline", "retrievers", "chunking", "rerank")


def _source_packages() -> set[str]:
    """Every folder with an __init__.py, named as it installs (`ragloom.<...>`)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    packages = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            if "__pycache__" not in rel:
                packages.add(".".join((package, *rel)))
    return packages


def test_every_source_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert _source_packages() == set(config["packages"])


@pytest.mark.integration
def test_wheel_contains_every_package_and_no_top_level_stage_module(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("ragloom-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in _source_packages():
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    assert "ragloom/defaults/default.yaml" in names
    assert "ragloom/py.typed" in names  # PEP 561: users' type checkers read our hints
    assert "ragloom/server/playground.html" in names  # the page `ragloom serve` shows at /
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & set(STAGE_FOLDERS)
