"""Distributed batch indexing on Ray Data against the local executor (same chunks, embeddings).

Runs on the session's local Ray (`ray_cluster`, 2 CPUs): two encoder actors of half a CPU each
plus a writer actor that reserves none.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ragloom.rag import RAG
from tests.integration.conftest import ROOT
from tests.integration.test_incremental_indexing import stored_ids

HYBRID = ROOT / "examples" / "hybrid-chunks.yaml"
RAY_DATA = {
    "type": "ray",
    "indexing": {"encoder_actors": 2, "num_cpus": 0.5, "batch_size": 2, "write_batch_size": 2},
}


def on_ray(index_dir: Path, config: Path = HYBRID, **indexing: object) -> RAG:
    rag = RAG.from_file(config, index_dir, executor="ray")
    block = {**RAY_DATA, "indexing": {**RAY_DATA["indexing"], **indexing}}  # type: ignore[dict-item]
    rag.config.indexing.executor = block
    return rag


def embeddings(index_dir: Path) -> dict[str, np.ndarray]:
    rag = RAG.from_file(HYBRID, index_dir)
    rag.chunk_counts()
    got = rag.config.indexing.components["dense_writer"].store.collection.get(
        include=["embeddings"]
    )
    return {i: np.asarray(e) for i, e in zip(got["ids"], got["embeddings"], strict=True)}


def test_ray_data_indexing_equals_local(ray_cluster: str, docs: Path, tmp_path: Path) -> None:
    local = RAG.from_file(HYBRID, tmp_path / "local").index([docs])
    report = on_ray(tmp_path / "ray").index([docs])
    assert report.executor == "ray-data" and local.executor == "local"
    assert (report.added, report.unchanged) == (5, 0)
    assert report.chunks_written == local.chunks_written
    assert stored_ids(tmp_path / "ray") == stored_ids(tmp_path / "local")
    mine, theirs = embeddings(tmp_path / "ray"), embeddings(tmp_path / "local")
    assert mine.keys() == theirs.keys()
    for chunk_id, vector in theirs.items():
        np.testing.assert_allclose(mine[chunk_id], vector, atol=1e-5)

    (docs / "fusion.txt").write_text("Fusion, rewritten: reciprocal ranks are summed.\n")
    (docs / "ray.md").unlink()
    before = stored_ids(tmp_path / "ray")
    again = on_ray(tmp_path / "ray").index([docs], prune=True)
    assert (again.added, again.updated, again.unchanged, again.deleted) == (0, 1, 3, 1)
    after = stored_ids(tmp_path / "ray")
    assert not {i for i in after if "ray.md#" in i}
    assert {i for i in after if "fusion.txt#" not in i} == {
        i for i in before if "fusion.txt#" not in i and "ray.md#" not in i
    }


def test_unfit_pipeline_falls_back_to_the_stage_executor(
    ray_cluster: str, docs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (docs / "binary.txt").write_bytes(b"\x00\x01")
    rag = on_ray(tmp_path / "index", ROOT / "examples" / "bm25.yaml")
    rag.config.indexing.executor = {
        **rag.config.indexing.executor,
        "stages": {"default": {"num_cpus": 0.05}},
    }
    with caplog.at_level(logging.WARNING):
        report = rag.index([docs])
    assert report.executor == "ray"
    assert "not Ray Data" in caplog.text
    assert report.added == 5 and [Path(f.split(": ")[0]).name for f in report.failed] == [
        "binary.txt"
    ]
    assert sum(report.stored.values()) > 0
