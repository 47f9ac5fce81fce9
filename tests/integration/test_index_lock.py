"""One writer per index directory: two `ragloom index` runs at once never interleave.

Before the lock, two runs on one directory both exited 0 and the journal kept only one run's
documents while BM25 held both (orphans that --prune could not find). Now the second run is
refused with a message naming the holder, or waits with --wait; either way the index ends
with exactly the documents of both folders, and the journal agrees with the store.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ragloom.errors import ConfigError
from ragloom.indexing import lock
from ragloom.indexing.journal import read_documents
from ragloom.indexing.lock import index_lock
from ragloom.rag import RAG
from ragloom.retrievers.bm25_store import BM25Store
from tests.integration.conftest import ROOT

BM25 = ROOT / "examples" / "bm25.yaml"


def folder(path: Path, name: str, count: int = 100) -> Path:
    path.mkdir()
    for n in range(count):
        (path / f"{name}-{n:03d}.txt").write_text(f"Note {n} of {name}: apples and {n} pears.")
    return path


def index_command(source: Path, index_dir: Path, *options: str) -> list[str]:
    cli = str(Path(sys.executable).parent / "ragloom")
    return [cli, "index", str(source), "-c", str(BM25), "--index-dir", str(index_dir), *options]


def run_together(commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "RAGLOOM_PROGRESS": "0"}
    procs = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for c in commands
    ]
    done = []
    for proc, command in zip(procs, commands, strict=True):
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(command, proc.returncode, out, err))
    return done


def assert_holds_exactly(index_dir: Path, *folders: Path) -> None:
    expected = {f"{f.name}/{p.name}" for f in folders for p in f.iterdir()}
    documents, pending = read_documents(index_dir)
    assert set(documents) == expected and not pending
    assert set(BM25Store(index_dir / "bm25").doc_ids()) == expected


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    b = folder(tmp_path / "b", "b")
    index_dir = tmp_path / "idx"
    env = {**os.environ, "RAGLOOM_PROGRESS": "0"}
    with index_lock(index_dir):  # a writer that holds the directory (this process)
        refused = subprocess.run(
            index_command(b, index_dir), capture_output=True, text=True, env=env, timeout=300
        )
    assert refused.returncode == 1, refused.stderr
    assert f"is being written by pid {os.getpid()} on " in refused.stderr
    assert "--wait" in refused.stderr and "Traceback" not in refused.stderr
    assert read_documents(index_dir) == ({}, set())  # nothing of b slipped in
    retry = subprocess.run(refused.args, capture_output=True, text=True, env=env, timeout=300)
    assert retry.returncode == 0, retry.stderr
    assert_holds_exactly(index_dir, b)


def test_two_runs_at_once_never_interleave(tmp_path: Path) -> None:
    """The issue's repro: both start together; each either runs alone or is refused, and once
    the refused one is run again the index holds both folders exactly."""
    a = folder(tmp_path / "a", "a")
    b = folder(tmp_path / "b", "b")
    index_dir = tmp_path / "idx"
    runs = run_together(
        [
            index_command(a, index_dir, "--batch-size", "5"),
            index_command(b, index_dir, "--batch-size", "5"),
        ]
    )
    for run in runs:
        assert run.returncode in (0, 1), run.stderr
        if run.returncode:
            assert "is being written by pid" in run.stderr, run.stderr
            retry = subprocess.run(run.args, capture_output=True, text=True, timeout=300)
            assert retry.returncode == 0, retry.stderr
    assert_holds_exactly(index_dir, a, b)


def test_with_wait_the_second_writer_queues_and_both_land(tmp_path: Path) -> None:
    a = folder(tmp_path / "a", "a")
    b = folder(tmp_path / "b", "b")
    index_dir = tmp_path / "idx"
    runs = run_together(
        [
            index_command(a, index_dir, "--batch-size", "5", "--wait"),
            index_command(b, index_dir, "--batch-size", "5", "--wait"),
        ]
    )
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert_holds_exactly(index_dir, a, b)


class Waiting(logging.Handler):
    """Sets `seen` when the index lock says a writer is waiting for it (the lock's own log)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting for it" in record.getMessage():
            self.seen.set()


def test_the_sdk_refuses_or_waits_while_the_lock_is_held(tmp_path: Path) -> None:
    a = folder(tmp_path / "a", "a", count=3)
    index_dir = tmp_path / "idx"
    waiting = Waiting()
    logging.getLogger(lock.__name__).addHandler(waiting)
    try:
        with index_lock(index_dir):
            with pytest.raises(ConfigError, match=rf"{os.getpid()} on .* is being|being written"):
                RAG.from_file(BM25, index_dir).index([a])
            assert not waiting.seen.is_set()  # refused, not queued
            done: list[object] = []
            waiter = threading.Thread(
                target=lambda: done.append(RAG.from_file(BM25, index_dir).index([a], wait=True))
            )
            waiter.start()
            assert waiting.seen.wait(timeout=120), "the waiter never reached the held lock"
            assert not done and waiter.is_alive()  # queued behind this holder, nothing written
            assert read_documents(index_dir) == ({}, set())
    finally:
        logging.getLogger(lock.__name__).removeHandler(waiting)
    waiter.join(timeout=120)
    assert done and done[0].added == 3  # type: ignore[attr-defined]
    assert_holds_exactly(index_dir, a)
