"""Queries only read the index (issue 15 item 4): a query creates no folder, file or collection,
and a query pipeline whose retriever has nothing in the index fails naming what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ragloom.errors import ConfigError
from ragloom.manifest import check_encoder
from ragloom.retrievers.langchain_retriever import RagloomRetriever
from tests.integration.conftest import CORPUS, ROOT, ragloom_cli

BM25 = str(ROOT / "examples" / "bm25.yaml")
HASHING_HYBRID = str(ROOT / "tests" / "integration" / "configs" / "hashing-hybrid.yaml")


def tree(folder: Path) -> list[str]:
    """Every path under `folder`, relative: what a read-only query must leave as it was."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example corpus indexed with examples/bm25.yaml (no encoder, no Chroma)."""
    index_dir = tmp_path_factory.mktemp("bm25-only") / "idx"
    ragloom_cli("index", str(CORPUS), "-c", BM25, "--index-dir", str(index_dir))
    assert not (index_dir / "chroma").exists()
    return index_dir


def test_the_default_hybrid_query_on_a_bm25_index_is_refused_and_writes_nothing(
    bm25_index: Path,
) -> None:
    before = tree(bm25_index)
    proc = ragloom_cli("query", "what is bm25", "--index-dir", str(bm25_index), check=False)
    assert proc.returncode != 0
    assert "built without an encoder" in proc.stderr
    assert "-c FILE" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (bm25_index / "chroma").exists()
    assert tree(bm25_index) == before


def test_a_model_free_hybrid_query_on_a_bm25_index_is_refused_too(bm25_index: Path) -> None:
    proc = ragloom_cli(
        "query", "what is bm25", "-c", HASHING_HYBRID, "--index-dir", str(bm25_index), check=False
    )
    assert proc.returncode != 0
    assert "built without an encoder" in proc.stderr
    assert not (bm25_index / "chroma").exists()


def test_the_bm25_query_on_a_bm25_index_still_answers(bm25_index: Path) -> None:
    proc = ragloom_cli(
        "query", "what is bm25", "-c", BM25, "--index-dir", str(bm25_index), "--json"
    )
    hits = json.loads(proc.stdout)["hits"]
    assert hits and hits[0]["doc_id"].endswith("bm25.md")
    assert not (bm25_index / "chroma").exists()


def test_the_encoder_check_refuses_an_encoder_against_an_index_built_without_one() -> None:
    built_without = {"format_version": 2, "encoder": None}
    with pytest.raises(ConfigError, match="built without an encoder"):
        check_encoder(Path("idx"), built_without, {"model": "minilm"})
    check_encoder(Path("idx"), built_without, None)  # BM25 on a BM25 index
    check_encoder(Path("idx"), {"format_version": 2}, {"model": "minilm"})  # nothing recorded


def test_a_query_whose_chroma_store_is_gone_names_the_stage_and_creates_nothing(
    tmp_path: Path,
) -> None:
    index_dir = tmp_path / "idx"
    ragloom_cli("index", str(CORPUS), "-c", HASHING_HYBRID, "--index-dir", str(index_dir))
    proc = ragloom_cli(
        "query", "what is bm25", "-c", HASHING_HYBRID, "--index-dir", str(index_dir), "--json"
    )
    hits = json.loads(proc.stdout)["hits"]
    assert any("dense" in h["source_ranks"] for h in hits)  # the hybrid still works
    assert any("bm25" in h["source_ranks"] for h in hits)

    shutil.rmtree(index_dir / "chroma")
    before = tree(index_dir)
    proc = ragloom_cli(
        "query", "what is bm25", "-c", HASHING_HYBRID, "--index-dir", str(index_dir), check=False
    )
    assert proc.returncode != 0
    assert "stage 'dense' (chroma_retriever)" in proc.stderr
    assert "no Chroma collection 'ragloom'" in proc.stderr
    assert "-c FILE" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree(index_dir) == before  # no chroma/ folder, no chroma.sqlite3


def test_a_never_indexed_directory_keeps_the_no_index_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = ragloom_cli("query", "anything", "--index-dir", str(empty), check=False)
    assert proc.returncode != 0
    assert f"no index in {empty}" in proc.stderr
    assert "ragloom index" in proc.stderr
    assert list(empty.iterdir()) == []


def test_the_default_hybrid_ranking_on_the_default_index_still_works(example_index: Path) -> None:
    retriever = RagloomRetriever.from_config(None, example_index)
    hits = retriever.search("What does reciprocal rank fusion do?")
    assert hits
    assert {"dense", "bm25"} <= {source for hit in hits for source in hit.source_ranks}


@pytest.fixture(scope="module")
def dense_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example corpus indexed with hashing-hybrid.yaml minus its BM25 writer (Chroma only)."""
    import yaml

    folder = tmp_path_factory.mktemp("dense-only")
    data = yaml.safe_load(Path(HASHING_HYBRID).read_text())
    indexing = data["indexing"]
    del indexing["components"]["bm25_writer"]
    indexing["connections"] = [
        c for c in indexing["connections"] if not c["receiver"].startswith("bm25_writer.")
    ]
    indexing["outputs"] = {
        k: v for k, v in indexing.get("outputs", {}).items() if not v.startswith("bm25_writer.")
    }
    config = folder / "dense.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    index_dir = folder / "idx"
    ragloom_cli("index", str(CORPUS), "-c", str(config), "--index-dir", str(index_dir))
    assert not (index_dir / "bm25").exists()
    return index_dir


def test_a_bm25_retriever_on_an_index_without_bm25_names_the_stage(dense_index: Path) -> None:
    before = tree(dense_index)
    proc = ragloom_cli(
        "query", "what is bm25", "-c", HASHING_HYBRID, "--index-dir", str(dense_index), check=False
    )
    assert proc.returncode != 0
    assert "(bm25_retriever)" in proc.stderr and "has no BM25 data in bm25/" in proc.stderr
    assert tree(dense_index) == before


def test_indexing_without_an_encoder_into_an_index_with_vectors_is_refused(
    dense_index: Path,
) -> None:
    proc = ragloom_cli(
        "index", str(CORPUS), "-c", BM25, "--index-dir", str(dense_index), check=False
    )
    assert proc.returncode != 0
    assert "indexes without one, so its dense vectors would fall behind" in proc.stderr
    assert not (dense_index / "bm25").exists()
