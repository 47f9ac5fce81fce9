"""A throwaway repository root for tests that plant code: retrievers/ copied, the rest linked."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.typecheck import package_dirs

ROOT = Path(__file__).resolve().parents[2]


def root_with_retrievers_copy(tmp_path: Path) -> Path:
    """A repository root whose retrievers/ is a copy (to plant errors or imports in); the rest
    are symbolic links to the real tree."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("pyproject.toml", *package_dirs(ROOT).values()):
        if name != "retrievers":
            (root / name).symlink_to(ROOT / name)
    shutil.copytree(
        ROOT / "retrievers", root / "retrievers", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root
