"""The chunkers' tokenizer comes from the ragloom cache after the first load, unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragloom.chunking.fast_tokenizer import _entry_name, load_backend_tokenizer
from ragloom.models import load_tokenizer, resolve_model_path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGLOOM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_cached_tokenizer_is_the_one_transformers_builds(cache: Path) -> None:
    built = json.loads(load_tokenizer("minilm").backend_tokenizer.to_str())
    assert json.loads(load_backend_tokenizer("minilm").to_str()) == built
    entries = list((cache / "models").glob("tokenizer-*"))
    assert len(entries) == 1
    # A fresh process reads the entry without importing transformers at all.
    code = (
        "import sys; from ragloom.chunking.fast_tokenizer import load_backend_tokenizer; "
        "t = load_backend_tokenizer('minilm'); t.no_padding(); "
        "print(len(t.encode('late chunking', add_special_tokens=False).ids), "
        "'transformers' in sys.modules)"
    )
    env = {**os.environ, "RAGLOOM_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = load_tokenizer("minilm")("late chunking", add_special_tokens=False)["input_ids"]
    assert out.stdout.split() == [str(len(expected)), "False"]


def test_a_changed_model_folder_gets_a_new_entry(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(resolve_model_path("minilm"), folder)
    before = _entry_name(folder)
    config = folder / "tokenizer_config.json"
    config.write_text(config.read_text() + "\n")
    assert _entry_name(folder) != before
