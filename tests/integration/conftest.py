"""Integration fixtures: one real index of the example corpus per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus"
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


def ragloom_cli(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the real `ragloom` console script in a subprocess."""
    cli = Path(sys.executable).parent / "ragloom"
    env = {**os.environ, "RAGLOOM_PROGRESS": "0"}
    proc = subprocess.run(
        [str(cli), *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ragloom {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def example_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example corpus indexed once with the default configuration through the CLI."""
    index_dir = tmp_path_factory.mktemp("example-index") / "index"
    ragloom_cli("index", str(CORPUS), "--index-dir", str(index_dir))
    return index_dir
