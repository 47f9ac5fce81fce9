"""Ray Data indexing on a two-node cluster (head + worker, `ray.cluster_utils.Cluster`) with the
index directory shared: the same index as a local run; a worker node lost mid-run leaves an
index that a re-run completes with nothing lost or duplicated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ragloom.rag import RAG
from ragloom.retrievers.bm25_store import BM25Store
from tests.integration.conftest import ROOT
from tests.integration.multinode import CONFIG
from tests.integration.test_incremental_indexing import stored_ids
from tests.integration.test_index_crash_safety import make_corpus

QUERIES = ["tides on day 3", "volcanoes number", "copper remark", "bees observers"]


def on_cluster(docs: Path, index_dir: Path, *options: str) -> tuple[int, dict]:
    env = {**os.environ, "RAGLOOM_PROGRESS": "0", "RAY_AUTH_MODE": "disabled"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.multinode", str(docs), str(index_dir), *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stderr[-3000:]
    return proc.returncode, json.loads(lines[-1])


def results(index_dir: Path) -> list[list[tuple[str, float]]]:
    """BM25's top 10 per query: exact, so equal indexes give equal lists (Chroma's HNSW graph,
    and so its approximate top-k, depends on insertion order)."""
    store = BM25Store(index_dir / "bm25")
    return [[(h.chunk.id, h.score) for h in store.search(q, 10)] for q in QUERIES]


def test_a_two_node_cluster_indexes_like_a_local_run(tmp_path: Path) -> None:
    make_corpus(tmp_path / "docs", count=60)
    local = RAG.from_file(CONFIG, tmp_path / "local").index([tmp_path / "docs"])
    code, out = on_cluster(tmp_path / "docs", tmp_path / "cluster")
    assert code == 0 and "error" not in out, out
    assert out["nodes"] == 2
    report = out["report"]
    assert report["executor"] == "ray-data" and report["added"] == 60
    assert report["chunks_written"] == local.chunks_written
    assert stored_ids(tmp_path / "cluster") == stored_ids(tmp_path / "local")
    assert results(tmp_path / "cluster") == results(tmp_path / "local")
    # The BM25 segments were prepared by the worker node's actors and registered: none wait.
    assert not list((tmp_path / "cluster" / "bm25" / "incoming").iterdir())


def test_a_worker_node_lost_mid_run_leaves_an_index_a_rerun_completes(tmp_path: Path) -> None:
    make_corpus(tmp_path / "docs", count=200)
    clean = RAG.from_file(CONFIG, tmp_path / "clean").index([tmp_path / "docs"])
    assert clean.added == 200
    _, out = on_cluster(tmp_path / "docs", tmp_path / "lost", "--kill-after", "16")
    assert 16 <= out["killed_at"] < 200, out
    assert out["abandoned"] or "error" in out or out["report"]["added"] == 200, out
    again = RAG.from_file(CONFIG, tmp_path / "lost").index([tmp_path / "docs"])
    assert again.added + again.unchanged + again.updated == 200
    assert stored_ids(tmp_path / "lost") == stored_ids(tmp_path / "clean")
    assert results(tmp_path / "lost") == results(tmp_path / "clean")
