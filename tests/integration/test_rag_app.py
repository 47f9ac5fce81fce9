"""The RAG application with the built-in configuration, on tiny files in temporary folders.

Indexing always uses the built-in pipeline. Queries use it once (its LLM generator takes a few
seconds on CPU); the other tests swap only the generation stages for the extractive answerer.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragloom.config import config_from_dict
from ragloom.errors import ConfigError
from ragloom.indexing.journal import read_documents
from ragloom.rag import RAG, QueryResult
from ragloom.types import Hit

FILES = {
    "tides.txt": "Ocean tides are caused by the gravity of the moon.\n"
    "The sun also pulls on the oceans, so spring tides come at new and full moon.\n",
    "tea.md": "# Tea\n\nGreen tea is brewed from steamed leaves. "
    "Black tea is oxidised before drying.\n",
    "volcano.txt": "Volcanoes erupt when magma rises through the crust. "
    "Lava cools into basalt rock.\n",
}
EDITED_TIDES = (
    "Tidal bores are rare waves that travel up rivers against the current. "
    "The Qiantang river in China has the largest tidal bore in the world.\n"
)
GENERATION_TYPES = ("prompt_builder", "llm_generator", "extractive_answerer")


def _corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


def _default_data() -> dict[str, Any]:
    text = resources.files("ragloom.defaults").joinpath("default.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _extractive_data() -> dict[str, Any]:
    """The built-in configuration with its generation stages replaced by `extractive_answerer`."""
    data = _default_data()
    query = data["query"]
    slow = {n for n, spec in query["components"].items() if spec["type"] in GENERATION_TYPES}
    for name in slow:
        del query["components"][name]

    def keep(address: str) -> bool:
        return address.split(".")[0] not in slow

    query["connections"] = [
        c for c in query["connections"] if keep(c["sender"]) and keep(c["receiver"])
    ]
    inputs = {name: [t for t in ts if keep(t)] for name, ts in query["inputs"].items()}
    query["inputs"] = {name: ts for name, ts in inputs.items() if ts}  # e.g. history goes
    query["components"]["answerer"] = {
        "type": "extractive_answerer",
        "init_parameters": {"max_passages": 3},
    }
    query["connections"].append({"sender": query["outputs"]["hits"], "receiver": "answerer.hits"})
    query["inputs"]["query"].append("answerer.question")
    query["outputs"]["answer"] = "answerer.answer"
    return data


def _fast_rag(index_dir: Path, data: dict[str, Any] | None = None) -> RAG:
    return RAG(config_from_dict(data or _extractive_data()), index_dir=index_dir)


def _stored_ids(rag: RAG) -> dict[str, set[str]]:
    components = rag.config.indexing.components
    return {name: set(components[name].store.chunk_ids()) for name in rag.chunk_counts()}


def _assert_exact_spans(hits: list[Hit], docs: Path) -> None:
    for hit in hits:  # a document id is the path from the folder indexed, "docs/..."
        source = (docs.parent / hit.chunk.doc_id).read_bytes().decode("utf-8")
        assert source[hit.chunk.start : hit.chunk.end] == hit.chunk.text


def _assert_every_stage_timed(rag: RAG, result: QueryResult) -> None:
    stages = set(rag.config.query.components)
    assert stages | {"total"} <= set(result.timings)
    assert all(isinstance(t, float) and t >= 0 for t in result.timings.values())
    assert result.timings["total"] >= max(result.timings[s] for s in stages)
    assert result.answer is not None and result.answer.timings == result.timings
    assert result.to_dict()["timings"] == result.timings


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny corpus indexed once with the built-in configuration (used read-only)."""
    root = tmp_path_factory.mktemp("rag-app")
    docs = _corpus(root / "docs")
    RAG(index_dir=root / "index").index([docs])
    return docs, root / "index"


def test_index_then_query_gives_exact_hits_and_a_cited_answer(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    report = RAG(index_dir=tmp_path / "index").index([docs])
    assert report.documents == 3
    assert report.skipped == []
    assert report.chunks_written == {"dense_written": 3, "bm25_written": 3}
    assert report.stored == {"dense_writer": 3, "bm25_writer": 3}
    assert (tmp_path / "index" / "manifest.json").is_file()

    rag = _fast_rag(tmp_path / "index")
    result = rag.query("What causes ocean tides?")
    assert result.hits and result.hits[0].chunk.doc_id == "docs/tides.txt"
    _assert_exact_spans(result.hits, docs)
    for hit in result.hits:
        assert {"dense", "bm25"} & set(hit.source_ranks)
    assert result.answer is not None
    assert result.answer.generator == "extractive"
    assert "Ocean tides are caused by the gravity of the moon." in result.answer.text
    assert result.answer.cited_hits[0].chunk.doc_id == "docs/tides.txt"
    _assert_every_stage_timed(rag, result)


def test_built_in_configuration_generates_an_answer(indexed: tuple[Path, Path]) -> None:
    """The one query through the built-in LLM generator."""
    docs, index_dir = indexed
    rag = RAG(index_dir=index_dir)
    result = rag.query("What causes ocean tides?")
    assert result.hits[0].chunk.doc_id == "docs/tides.txt"
    _assert_exact_spans(result.hits, docs)
    answer = result.answer
    assert answer is not None and answer.text.strip() and answer.generator
    assert answer.hits, "the answer keeps the passages its prompt numbered"
    assert all(1 <= n <= len(answer.hits) for n in answer.cited)
    _assert_every_stage_timed(rag, result)


def test_query_top_k_limits_the_hits(indexed: tuple[Path, Path]) -> None:
    _, index_dir = indexed
    rag = _fast_rag(index_dir)
    assert len(rag.query("moon tides tea magma", top_k=1).hits) == 1
    assert len(rag.query("moon tides tea magma").hits) == 3


def test_top_k_without_a_top_k_input_is_a_config_error(indexed: tuple[Path, Path]) -> None:
    data = _extractive_data()
    del data["query"]["inputs"]["top_k"]
    rag = _fast_rag(indexed[1], data)
    assert rag.query("tides").hits  # the pipeline itself works
    with pytest.raises(ConfigError, match="top_k"):
        rag.query("tides", top_k=2)


def test_reindexing_unchanged_files_keeps_the_stored_chunks(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    first = RAG(index_dir=tmp_path / "index")
    first.index([docs])
    before = _stored_ids(first)
    again = RAG(index_dir=tmp_path / "index")
    report = again.index([docs])
    assert report.stored == {"dense_writer": 3, "bm25_writer": 3}
    assert _stored_ids(again) == before


def test_editing_a_file_replaces_its_chunks(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    rag = RAG(index_dir=tmp_path / "index")
    rag.index([docs])
    tides = "docs/tides.txt"
    old = {name: {i for i in ids if i.startswith(tides)} for name, ids in _stored_ids(rag).items()}
    (docs / "tides.txt").write_bytes(EDITED_TIDES.encode("utf-8"))

    rag = RAG(index_dir=tmp_path / "index")
    rag.index([docs])
    for name, ids in _stored_ids(rag).items():
        assert old[name] and not old[name] & ids, name
        assert {i for i in ids if i.startswith(tides)}, name
    result = _fast_rag(tmp_path / "index").query("Which river has the largest tidal bore?")
    assert result.hits[0].chunk.doc_id == tides
    assert "Qiantang" in result.hits[0].chunk.text
    _assert_exact_spans(result.hits, docs)
    documents, _ = read_documents(tmp_path / "index")
    assert set(documents) == {f"docs/{name}" for name in FILES}


def test_emptying_a_file_removes_its_chunks(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    RAG(index_dir=tmp_path / "index").index([docs])
    (docs / "tides.txt").write_bytes(b"  \n")
    report = RAG(index_dir=tmp_path / "index").index([docs])
    assert report.skipped
    assert report.stored == {"dense_writer": 2, "bm25_writer": 2}


@pytest.mark.parametrize("command", ["index", "query"])
def test_an_index_built_by_another_encoder_is_refused(command: str, tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    index_dir = tmp_path / "index"
    RAG(index_dir=index_dir).index([docs])
    manifest_path = index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["encoder"]["model"] = "sentence-transformers/all-mpnet-base-v2"
    manifest_path.write_text(json.dumps(manifest))

    rag = RAG(index_dir=index_dir)
    with pytest.raises(ConfigError) as info:
        if command == "index":
            rag.index([docs])
        else:
            rag.query("What causes ocean tides?")
    assert str(index_dir) in str(info.value)
    assert "all-mpnet-base-v2" in str(info.value)
    assert json.loads(manifest_path.read_text()) == manifest  # nothing was rewritten


@pytest.mark.parametrize("state", ["absent", "empty folder"])
def test_query_without_an_index_says_to_run_ragloom_index(state: str, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    if state == "empty folder":
        index_dir.mkdir()
    with pytest.raises(ConfigError) as info:
        RAG(index_dir=index_dir).query("What causes ocean tides?")
    assert "ragloom index" in str(info.value)
    assert str(index_dir) in str(info.value)


@pytest.mark.parametrize("question", ["", "   \n"])
def test_an_empty_question_is_a_config_error(question: str, indexed: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="empty"):
        RAG(index_dir=indexed[1]).query(question)
