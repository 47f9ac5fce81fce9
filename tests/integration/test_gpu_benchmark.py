"""benchmarks/gpu.py runs its whole GPU-path code on CPU at tiny sizes (its smoke test until a GPU
machine runs it for real) and refuses `--device cuda` in one line where there is no CUDA."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.py"
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAGLOOM_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_cpu_quick_run_prints_its_table() -> None:
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"SciFact not found at {SCIFACT}")
    proc = run_script("--device", "cpu", "--quick", "--no-ray", "--dtypes", "float32", "bfloat16")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| part | workload | dtype |")
    parts = {(row.split(" | ")[0].strip("| "), row.split(" | ")[2]) for row in rows[1:]}
    for part in ("encoder", "late chunking", "cross-encoder"):
        assert {(part, "float32"), (part, "bfloat16")} <= parts, rows
    bf16 = [row for row in rows if row.startswith("| encoder |") and "bfloat16" in row]
    least_cosine = float(bf16[0].rstrip(" |").rsplit("| ", 1)[1])
    assert least_cosine > 0.99  # bf16 embeddings stay close to fp32's


def test_cuda_asked_without_cuda_exits_with_one_line() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    proc = run_script("--device", "cuda", "--quick")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("gpu.py: --device cuda asked but")
    assert "--device cpu" in proc.stderr
