"""No import cycles and no private names imported across ragloom's modules (tools/import_cycles.py).

The planted cycles go into a temporary copy of retrievers/, never into the real sources.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.repo_copy import ROOT, root_with_retrievers_copy
from tools import import_cycles
from tools.import_cycles import imports, private_imports, report


def test_no_import_cycles_among_ragloom_modules() -> None:
    assert report(ROOT) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    assert private_imports(ROOT) == []


def test_the_scan_sees_the_stage_folders_as_ragloom_modules() -> None:
    sources = {edge.source for edge in imports(ROOT)}
    assert {"ragloom.cli", "ragloom.pipeline.graph", "ragloom.retrievers.fusion"} <= sources
    assert not any(edge.target.startswith(("pipeline.", "retrievers.")) for edge in imports(ROOT))


def _plant(root: Path, module: str, text: str) -> None:
    with (root / "retrievers" / module).open("a", encoding="utf-8") as file:
        file.write(text)


def test_a_planted_cycle_through_a_function_level_import_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = root_with_retrievers_copy(tmp_path)
    # fusion imports score_fusion at module level; score_fusion now imports fusion back.
    _plant(
        root, "score_fusion.py", "\n\ndef planted():\n    from ragloom.retrievers import fusion\n"
    )
    (found,) = report(root)
    assert found.startswith(
        "import cycle: ragloom.retrievers.fusion, ragloom.retrievers.score_fusion"
    )
    assert "retrievers/score_fusion.py:" in found and "(in a function)" in found
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "import_cycles.py"), "--root", str(root)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "import cycle:" in done.stdout
    # Listed as allowed, with its reason, the function-level import no longer counts.
    edge = ("ragloom.retrievers.score_fusion", "ragloom.retrievers.fusion")
    monkeypatch.setitem(import_cycles.ALLOWED, edge, "test")
    assert report(root) == []


def test_a_module_level_cycle_is_found_but_a_type_checking_import_is_not(tmp_path: Path) -> None:
    root = root_with_retrievers_copy(tmp_path)
    _plant(
        root,
        "score_fusion.py",
        "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
        "    from ragloom.retrievers.fusion import ScoreFusion\n",
    )
    assert report(root) == []
    _plant(root, "score_fusion.py", "\nimport ragloom.retrievers.fusion\n")
    (found,) = report(root)
    assert "ragloom.retrievers.score_fusion -> ragloom.retrievers.fusion\n" in found + "\n"


def test_a_planted_private_import_is_found(tmp_path: Path) -> None:
    root = root_with_retrievers_copy(tmp_path)
    _plant(root, "fusion.py", "\nfrom ragloom.retrievers.score_fusion import _planted\n")
    (found,) = private_imports(root)
    assert found.startswith("retrievers/fusion.py:")
    assert found.endswith("imports _planted from ragloom.retrievers.score_fusion")
