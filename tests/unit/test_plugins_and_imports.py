"""Third-party components arrive through the entry-point group; stage folders import only as
`ragloom.<stage>` (ruff's banned-api enforces it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ragloom import registry
from ragloom.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
from typing import Any
from ragloom import Component, output_types

class Shout(Component):
    """Upper-cases text."""

    def __init__(self, suffix: str = "!"):
        self.suffix = suffix

    @output_types(text=str)
    def run(self, text: str) -> dict[str, Any]:
        return {"text": text.upper() + self.suffix}
'''


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A minimal installed distribution declaring a `ragloom.components` entry point."""
    (tmp_path / "shout_plugin.py").write_text(PLUGIN, encoding="utf-8")
    dist = tmp_path / "shout_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[ragloom.components]\ntest_shout = shout_plugin:Shout\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    yield tmp_path
    registry._registry.pop("test_shout", None)
    sys.modules.pop("shout_plugin", None)


def test_entry_point_component_is_usable_from_yaml(plugin_on_path: Path) -> None:
    assert "test_shout" in registry.registered_types()
    pipe = Pipeline.from_yaml_text(
        "components:\n  s: {type: test_shout, init_parameters: {suffix: '?'}}\n"
        "inputs:\n  text: [s.text]\n"
    )
    assert pipe.run({"text": "hi"})["s.text"] == "HI?"
    assert pipe.to_dict()["components"]["s"]["type"] == "test_shout"


def test_yaml_cannot_name_a_dotted_python_path() -> None:
    with pytest.raises(KeyError, match=r"unknown component type 'os\.system'"):
        registry.get_component_class("os.system")


def test_ruff_bans_importing_stage_folders_directly() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    proc = subprocess.run(
        [str(ruff), "check", "--no-cache", "--stdin-filename", "ragloom/probe.py", "-"],
        input="import pipeline\nfrom rerank import x\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode != 0
    assert proc.stdout.count("TID251") == 2
