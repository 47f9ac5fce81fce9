"""Type-check every ragloom package with mypy, the stage folders included.

Why a mirror tree: pipeline/, retrievers/, chunking/ and rerank/ sit at the repository root and
install as `ragloom.<name>` through setuptools' `package-dir` mapping. mypy has no such mapping
and does not follow setuptools' editable-install finder, so `mypy ragloom` never sees them (and
`mypy pipeline` would check them as a top-level `pipeline` package, which does not exist at run
time). This script builds `build/typecheck/ragloom/` from symlinks, laid out as the package
installs (every entry of ragloom/ plus each mapped folder), and runs `mypy -p ragloom` from
`build/typecheck/`. Folder symlinks mean a new module is seen without rebuilding the tree; the
tree is rebuilt on every run anyway, from the mapping in pyproject.toml, so it cannot go stale.
mypy runs with the tree as its working directory so that only `ragloom` is importable: from the
repository root, `import pipeline` would resolve and hide a wrong import.

Error paths are rewritten back to the real files (`retrievers/bm25.py:12: error: ...`).

Usage: python tools/typecheck.py [--root DIR] [--tree DIR] [--cache-dir DIR] [-- MYPY_ARGS...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ragloom"


def package_dirs(root: Path) -> dict[str, str]:
    """Return setuptools' `package-dir` mapping (package name -> folder) from pyproject.toml."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return mapping


def build_tree(root: Path, tree: Path) -> None:
    """Lay out `tree/ragloom/` as the package installs, with symlinks into `root`."""
    if tree.is_symlink() or tree.is_file():
        tree.unlink()
    elif tree.exists():
        shutil.rmtree(tree)  # holds only symlinks: rmtree does not follow them
    mapping = package_dirs(root)
    top = tree / PACKAGE
    top.mkdir(parents=True)
    for entry in sorted((root / mapping[PACKAGE]).iterdir()):
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry.resolve())
    # Parents before children, so a nested mapping lands inside its parent's link.
    for package in sorted(mapping, key=lambda name: name.count(".")):
        if package == PACKAGE:
            continue
        if not package.startswith(PACKAGE + "."):
            raise SystemExit(f"pyproject.toml maps {package!r}, outside {PACKAGE!r}")
        link = tree.joinpath(*package.split("."))
        if link.exists() or link.is_symlink():
            raise SystemExit(f"{mapping[package]}/ would hide {link.relative_to(tree)} in {tree}")
        link.symlink_to((root / mapping[package]).resolve())


def real_paths(output: str, mapping: dict[str, str]) -> str:
    """Rewrite `ragloom/retrievers/x.py:1:` in mypy's output to `retrievers/x.py:1:`."""
    prefixes = sorted(mapping, key=len, reverse=True)
    pattern = re.compile(
        r"^(" + "|".join(re.escape(p.replace(".", "/") + "/") for p in prefixes) + ")",
        re.MULTILINE,
    )
    folders = {p.replace(".", "/") + "/": mapping[p].rstrip("/") + "/" for p in prefixes}
    return pattern.sub(lambda m: folders[m.group(1)], output)


def run(root: Path, tree: Path, cache_dir: Path, mypy_args: list[str]) -> int:
    """Build the tree, run mypy on `ragloom`, print its report with real paths; mypy's exit code."""
    build_tree(root, tree)
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(root / "pyproject.toml"),
        "--cache-dir",
        str(cache_dir.resolve()),
        "-p",
        PACKAGE,
        *mypy_args,
    ]
    env = {**os.environ, "MYPY_FORCE_COLOR": "0"}
    env.pop("MYPYPATH", None)
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    mapping = package_dirs(root)
    sys.stdout.write(real_paths(done.stdout, mapping))
    sys.stderr.write(real_paths(done.stderr, mapping))
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: `python tools/typecheck.py`; what `make lint` runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root to check")
    parser.add_argument("--tree", type=Path, help="mirror tree (default: ROOT/build/typecheck)")
    parser.add_argument("--cache-dir", type=Path, help="mypy cache (default: ROOT/.mypy_cache)")
    parser.add_argument("mypy_args", nargs="*", help="extra mypy arguments, after --")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    tree = (args.tree or root / "build" / "typecheck").absolute()
    cache_dir = args.cache_dir or root / ".mypy_cache"
    return run(root, tree, cache_dir, args.mypy_args)


if __name__ == "__main__":
    sys.exit(main())
