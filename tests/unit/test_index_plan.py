"""Planning an incremental run, the manifest commit protocol and the pipeline split (no models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.config import load_config
from ragloom.errors import ConfigError
from ragloom.indexing import IndexingShape, Journal, plan_documents
from ragloom.indexing.journal import read_documents
from ragloom.manifest import read_manifest
from ragloom.pipeline.ray_config import parse_ray_executor
from ragloom.types import Document

ROOT = Path(__file__).resolve().parents[2]


def doc(doc_id: str, text: str = "text") -> Document:
    return Document(text=text, id=doc_id, metadata={"source": doc_id})


def test_plan_classifies_against_the_manifest() -> None:
    same, changed, new = doc("a"), doc("b", "new text"), doc("c")
    known = {"a": same.hash, "b": doc("b").hash, "gone": "x", "e": "y", "bad.txt": "z"}
    plan = plan_documents([same, changed, new], ["e"], ["bad.txt: binary file"], known)
    assert (plan.unchanged, plan.updated, plan.added) == (["a"], ["b"], ["c"])
    assert [d.id for d in plan.write] == ["b", "c"]
    assert plan.delete == ["e"] and plan.deleted == ["e"]  # no prune: "gone" stays

    pruned = plan_documents(
        [same, changed, new], ["e"], ["bad.txt: binary file"], known, prune=True
    )
    assert pruned.delete == ["e", "gone"]  # an unreadable file keeps its chunks
    assert pruned.deleted == ["e", "gone"]


def test_metadata_changes_count_as_updates() -> None:
    old = doc("a")
    moved = Document(text=old.text, id="a", metadata={"source": "a", "title": "New"})
    assert plan_documents([moved], [], [], {"a": old.hash}).updated == ["a"]


def test_pending_documents_are_rewritten_or_deleted() -> None:
    present = doc("p")
    plan = plan_documents([present], [], [], {}, pending=["p", "vanished"])
    assert plan.added == ["p"] and plan.delete == ["vanished"] and plan.deleted == ["vanished"]


def test_journal_commits_in_two_atomic_steps(tmp_path: Path) -> None:
    """Each step is committed at once and read back by another process's view (the file)."""
    journal = Journal(tmp_path, None, {"encoder": None})
    journal.commit({"a": "1", "b": "2"})
    journal.begin(["b", "c"])
    assert read_documents(tmp_path) == ({"a": "1"}, {"b", "c"})
    journal.commit({"b": "3", "c": "4"})
    assert read_documents(tmp_path) == ({"a": "1", "b": "3", "c": "4"}, set())
    journal.close()
    reopened = Journal(tmp_path, read_manifest(tmp_path), {})
    reopened.begin(["a"])
    reopened.commit({}, deleted=["a"])
    assert read_documents(tmp_path) == ({"b": "3", "c": "4"}, set())


def test_a_format_1_manifest_moves_its_document_table_into_the_journal(tmp_path: Path) -> None:
    old = {"format_version": 1, "encoder": None, "documents": {"a": "1"}, "pending": ["b"]}
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    journal = Journal(tmp_path, read_manifest(tmp_path), {"encoder": None, "pipeline": {}})
    assert (journal.hashes(), journal.pending) == ({"a": "1"}, {"b"})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format_version"] == 3 and "documents" not in manifest
    assert manifest["legacy_ids"] is True  # its ids were made from the working directory
    assert read_documents(tmp_path) == ({"a": "1"}, {"b"})


def test_a_batch_commit_does_not_rewrite_the_manifest(tmp_path: Path) -> None:
    journal = Journal(tmp_path, None, {"encoder": None})
    journal.save()
    before = (tmp_path / "manifest.json").stat().st_mtime_ns
    for n in range(20):
        journal.begin([f"d{n}"])
        journal.commit({f"d{n}": "h"})
    assert (tmp_path / "manifest.json").stat().st_mtime_ns == before
    assert len(read_documents(tmp_path)[0]) == 20


def test_hybrid_pipeline_splits_for_ray_data() -> None:
    pipeline = load_config(ROOT / "examples" / "hybrid-chunks.yaml").indexing
    shape = IndexingShape.of(pipeline)
    assert shape is not None and shape.loader == "loader"
    stages, why = shape.ray_data_stages()
    assert why == "" and stages is not None
    assert (stages.chunker, stages.encoder) == ("chunker", "encoder")
    assert dict(stages.writers) == {"dense_writer": True, "bm25_writer": False}
    writing = shape.writing_pipeline()
    assert "loader" not in writing.components
    assert set(writing.inputs) == {"loader.documents", "loader.empty"}
    assert set(writing.outputs) == {"dense_written", "bm25_written"}


def test_bm25_only_pipeline_does_not_fit_ray_data() -> None:
    shape = IndexingShape.of(load_config(ROOT / "examples" / "bm25.yaml").indexing)
    assert shape is not None
    stages, why = shape.ray_data_stages()
    assert stages is None and "encoder" in why


def test_indexing_options_are_validated_with_valid_keys() -> None:
    block = {"type": "ray", "indexing": {"encoder_actors": 2, "batchsize": 8}}
    with pytest.raises(ConfigError) as info:
        parse_ray_executor(block)
    message = str(info.value)
    assert "batchsize" in message and "batch_size" in message and "encoder_actors" in message
    options = parse_ray_executor({"type": "ray", "indexing": {"encoder_actors": 2}}).indexing
    assert (options.encoder_actors, options.batch_size, options.ray_data) == (2, 64, True)


def test_throughput_counts_documents_chunks_and_tokens() -> None:
    from ragloom.indexing.report import IndexReport, Throughput, TokenCounter

    progress = Throughput(2, TokenCounter(None))  # no model: whitespace words
    progress.add([doc("a", "one two three"), doc("b", "four")], chunks=3)
    rates = progress.rates()
    progress.close()
    assert (rates["documents"], rates["chunks"], rates["tokens"]) == (2, 3, 4)
    assert rates["tokens_per_s"] > 0
    report = IndexReport(2, {}, {}, skipped=["x.txt: binary file"], added=2, throughput=rates)
    assert report.summary().startswith("added 2, updated 0, unchanged 0, deleted 0, failed 1 (")
    assert report.to_dict()["failed"] == ["x.txt: binary file"]


def test_hashes_of_some_or_all_committed_documents(tmp_path: Path) -> None:
    journal = Journal(tmp_path, None, {})
    journal.begin(f"d{n}" for n in range(2000))
    journal.commit({f"d{n}": f"h{n}" for n in range(1990)})
    wanted = [f"d{n}" for n in range(0, 2000, 3)] + ["missing"]
    expected = {i: f"h{i[1:]}" for i in wanted if i != "missing" and int(i[1:]) < 1990}
    assert journal.hashes(wanted) == expected  # batched lookups; pending ones are not committed
    assert len(journal.hashes()) == 1990 and journal.pending == {f"d{n}" for n in range(1990, 2000)}
    journal.close()


def test_pipeline_changes_name_what_makes_chunks_stale() -> None:
    from ragloom.indexing.changes import pipeline_changes

    base = load_config(Path(__file__).parents[2] / "examples" / "bm25.yaml").indexing.to_dict()
    same = json.loads(json.dumps(base, sort_keys=True))  # as the manifest stores it
    same["executor"] = {"type": "ray"}  # where it runs changes no chunk
    same["components"]["loader"]["init_parameters"]["recursive"] = False  # hashes cover it
    assert pipeline_changes(same, base, "loader") == []
    assert pipeline_changes(None, base, "loader") == []
    changed = json.loads(json.dumps(base))
    changed["components"]["chunker"]["init_parameters"]["chunk_size"] = 64
    changed["components"]["writer"]["init_parameters"]["k1"] = 1.2
    changed["connections"] = changed["connections"][:2]
    assert pipeline_changes(base, changed, "loader") == [
        "chunker: chunk_size 512 -> 64",
        "connections changed",
        "writer: k1 1.5 -> 1.2",
    ]
