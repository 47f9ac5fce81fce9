"""tools/typecheck.py (what `make lint` runs) type-checks the stage folders as ragloom.<name>.

The planted errors go into a temporary copy of retrievers/, never into the real sources.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.unit.repo_copy import ROOT, root_with_retrievers_copy
from tools.typecheck import build_tree, package_dirs, real_paths

SCRIPT = ROOT / "tools" / "typecheck.py"


def test_the_tree_lays_out_every_mapped_folder_inside_ragloom(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    build_tree(ROOT, tree)
    build_tree(ROOT, tree)  # rebuilding over an old tree is fine
    for package, folder in package_dirs(ROOT).items():
        if package != "ragloom":  # ragloom/ itself is a real folder of links
            assert tree.joinpath(*package.split(".")).resolve() == (ROOT / folder).resolve()
    assert (tree / "ragloom" / "__init__.py").resolve() == ROOT / "ragloom" / "__init__.py"
    assert (ROOT / "retrievers").exists()  # rmtree of the old tree did not follow its links


def test_mypy_paths_are_rewritten_to_the_real_files() -> None:
    mapping = {"ragloom": "ragloom", "ragloom.retrievers": "retrievers"}
    output = "ragloom/retrievers/bm25.py:3: error: x\nragloom/rag.py:1: error: y\n"
    assert (
        real_paths(output, mapping)
        == "retrievers/bm25.py:3: error: x\nragloom/rag.py:1: error: y\n"
    )


def test_a_type_error_planted_in_retrievers_fails_the_check(tmp_path: Path) -> None:
    root = root_with_retrievers_copy(tmp_path)
    with (root / "retrievers" / "score_fusion.py").open("a") as module:
        module.write('\n\ndef planted() -> int:\n    return "not an int"\n')
    # A typo in a first-party import is an error too (no blanket ignore_missing_imports).
    with (root / "retrievers" / "fusion.py").open("a") as module:
        module.write("\nfrom ragloom.retrievers.score_fusoin import planted_typo  # noqa\n")
    cache = tmp_path / "cache"
    # Seeded from `make lint`'s cache (CI lints first): ~5 s instead of ~2 min cold.
    if (ROOT / ".mypy_cache").is_dir():
        shutil.copytree(ROOT / ".mypy_cache", cache)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(
        line.startswith("retrievers/score_fusion.py:") and "[return-value]" in line
        for line in lines
    ), done.stdout
    assert any(
        line.startswith("retrievers/fusion.py:") and "ragloom.retrievers.score_fusoin" in line
        for line in lines
    ), done.stdout
    assert (ROOT / "retrievers" / "score_fusion.py").read_text().count("planted") == 0
