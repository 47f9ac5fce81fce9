"""YAML alias bombs and recursive aliases: `ragloom validate` refuses them at once, naming the
file and line, in bounded memory; ordinary anchors still work."""

from __future__ import annotations

import resource
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from ragloom.pipeline.spec import parse_yaml

MEMORY_LIMIT = 1 << 30  # `ragloom validate` peaks near 180 MB; each bomb level costs 9x more

BOMB = "\n".join(
    [
        "version: 1",
        "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
        *(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in pairwise("abcdefghi")),
        "",
    ]
)
RECURSIVE = "version: 1\nx: &s [x, *s]\n"
RECURSIVE_MAPPING = "version: 1\nx: &m {a: 1, b: *m}\n"


def _validate_limited(path: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child with at most MEMORY_LIMIT of address space (the timeout only
    guards against a hang; what proves the refusal came first is the message, not a clock)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-c", "from ragloom.cli import main; main()", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
    )


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (BOMB, 6, "aliases expand past"),
        (RECURSIVE, 2, "recursive alias"),
        (RECURSIVE_MAPPING, 2, "recursive alias"),
    ],
    ids=["bomb", "recursive-sequence", "recursive-mapping"],
)
def test_alias_abuse_is_refused_in_bounded_memory_with_file_and_line(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    proc = _validate_limited(path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output and "RecursionError" not in output
    assert "MemoryError" not in output
    problems = [ln.strip() for ln in output.splitlines() if needle in ln]
    assert problems == [problems[0]] and problems[0].startswith(f"{path}:{line}: "), output


def test_ordinary_anchors_still_load_and_locate_lines() -> None:
    text = "base: &p {top_k: 3, k: 60}\nfirst: *p\nsecond:\n  <<: *p\n  k: 10\n"
    data, source = parse_yaml(text, "c.yaml")
    assert data == {
        "base": {"top_k": 3, "k": 60},
        "first": {"top_k": 3, "k": 60},
        "second": {"top_k": 3, "k": 10},
    }
    assert source.line("base", "k") == 1
    assert source.line("first", "k") == 2  # below an alias: the alias's line
    assert source.line("second", "k") == 5
