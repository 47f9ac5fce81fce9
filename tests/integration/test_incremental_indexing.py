"""Incremental, idempotent re-indexing with real MiniLM, Chroma and BM25 (local executor).

Every test copies examples/corpus into its own tmp_path and indexes it with
examples/hybrid-chunks.yaml; the chunk-id sets of Chroma and BM25 must always be equal.
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
from pathlib import Path

import pytest

from ragloom.errors import ConfigError
from ragloom.indexing.journal import Journal, read_documents
from ragloom.rag import RAG
from tests.integration.conftest import CORPUS, ROOT, ragloom_cli

HYBRID = ROOT / "examples" / "hybrid-chunks.yaml"


def stored_ids(index_dir: Path) -> set[str]:
    """The chunk ids in Chroma, asserted equal to BM25's and free of duplicates."""
    rag = RAG.from_file(HYBRID, index_dir)
    rag.chunk_counts()  # binds the stores to index_dir
    components = rag.config.indexing.components
    dense = components["dense_writer"].store
    bm25 = components["bm25_writer"].store
    dense_ids = dense.collection.get(include=[])["ids"]
    bm25_ids = list(bm25.chunk_ids())
    assert len(dense_ids) == len(set(dense_ids)) == dense.count()
    assert len(bm25_ids) == len(set(bm25_ids)) == bm25.count()
    assert set(dense_ids) == set(bm25_ids)
    return set(dense_ids)


def of(doc: Path, ids: set[str]) -> set[str]:
    """The chunk ids of `doc`, a file of the folder indexed (its id: "folder/name")."""
    return {i for i in ids if i.startswith(f"{doc.parent.name}/{doc.name}#")}


def test_unchanged_documents_are_not_encoded_and_changes_are_exact(
    docs: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    first = RAG.from_file(HYBRID, index).index([docs])
    assert (first.added, first.updated, first.unchanged, first.deleted) == (5, 0, 0, 0)
    assert first.failed == []
    before = stored_ids(index)
    assert len(before) == first.stored["dense_writer"] == first.stored["bm25_writer"]

    again = RAG.from_file(HYBRID, index).index([docs])
    assert (again.added, again.updated, again.unchanged, again.deleted) == (0, 0, 5, 0)
    assert again.chunks_written == {}  # nothing chunked, encoded or written
    assert "encoder" not in again.timings and again.throughput["documents"] == 0
    assert stored_ids(index) == before

    fusion, ray = docs / "fusion.txt", docs / "ray.md"
    fusion.write_text(fusion.read_text() + "\nFusion also works with three lists.\n")
    ray.unlink()
    kept = RAG.from_file(HYBRID, index).index([docs])  # without --prune: ray.md stays
    assert (kept.added, kept.updated, kept.unchanged, kept.deleted) == (0, 1, 3, 0)
    middle = stored_ids(index)
    assert of(ray, middle) == of(ray, before)
    assert middle - of(fusion, middle) == before - of(fusion, before)
    assert of(fusion, middle) != of(fusion, before)

    pruned = RAG.from_file(HYBRID, index).index([docs], prune=True)
    assert (pruned.added, pruned.updated, pruned.unchanged, pruned.deleted) == (0, 0, 4, 1)
    after = stored_ids(index)
    assert not of(ray, after)
    assert after == middle - of(ray, middle)
    documents, pending = read_documents(index)
    assert "docs/ray.md" not in documents and not pending


def test_cli_reports_counts_in_text_and_json(docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    args = ("index", str(docs), "-c", str(HYBRID), "--index-dir", str(index))
    first = json.loads(ragloom_cli(*args, "--json").stdout)
    assert (first["added"], first["unchanged"], first["failed"]) == (5, 0, [])
    assert first["throughput"]["tokens"] > 0 and first["throughput"]["tokens_per_s"] > 0
    (docs / "bm25.md").unlink()
    (docs / "empty.txt").write_text("  \n")
    text = ragloom_cli(*args, "--prune").stdout
    assert "added 0, updated 0, unchanged 4, deleted 1, failed 1" in text
    assert "failed docs/empty.txt: empty file" in text


def test_bad_documents_are_skipped_and_reported(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (docs / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (docs / "empty.md").write_text("")
    locked = docs / "locked.txt"
    locked.write_text("secret text")
    if os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads anything: make this one file fail the way a permission error does
        real = pathlib.Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == "locked.txt":
                raise PermissionError(13, "Permission denied")
            return real(self)

        monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    report = RAG.from_file(HYBRID, tmp_path / "index").index([docs])
    failed = {Path(line.split(": ", 1)[0]).name: line for line in report.failed}
    assert set(failed) == {"binary.txt", "latin1.txt", "empty.md", "locked.txt"}
    assert "binary file" in failed["binary.txt"]
    assert "cannot decode as utf-8" in failed["latin1.txt"]
    assert "empty file" in failed["empty.md"]
    assert "cannot read" in failed["locked.txt"]
    assert (report.added, report.deleted) == (5, 0)
    indexed = {i.split("#")[0] for i in stored_ids(tmp_path / "index")}
    assert indexed == {f"docs/{p.name}" for p in CORPUS.iterdir()}


BM25 = ROOT / "examples" / "bm25.yaml"


def _bm25_chunks(index_dir: Path) -> dict[str, str]:
    """The BM25 store's live chunks, id -> text."""
    rag = RAG.from_file(BM25, index_dir)
    rag.chunk_counts()  # binds the stores to index_dir
    store = rag.config.indexing.components["writer"].store
    return {chunk.id: chunk.text for chunk in store.iter_chunks()}


def test_jsonl_records_are_recognised_by_key_and_the_index_equals_a_fresh_build(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "docs.jsonl"
    records = [{"id": f"r{n}", "text": f"record {n} about retrieval number {n}"} for n in range(40)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    index = tmp_path / "index"
    first = RAG.from_file(BM25, index).index([corpus])
    assert (first.added, first.unchanged) == (40, 0)

    records[3]["text"] = "record three, edited"
    records.insert(0, {"id": "new", "text": "a record added at the top"})
    del records[20]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    again = RAG.from_file(BM25, index).index([corpus], prune=True)
    assert (again.added, again.updated, again.unchanged, again.deleted) == (1, 1, 38, 1)
    assert again.documents == 40

    fresh = tmp_path / "fresh"
    RAG.from_file(BM25, fresh).index([corpus])
    assert _bm25_chunks(index) == _bm25_chunks(fresh)
    last = RAG.from_file(BM25, index).index([corpus])
    assert (last.added, last.updated, last.unchanged) == (0, 0, 40)


def test_a_journal_from_before_record_keys_is_upgraded_in_place(tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": f"r{n}", "text": f"text {n}"}) + "\n" for n in range(5))
    )
    index = tmp_path / "index"
    RAG.from_file(BM25, index).index([corpus])
    with sqlite3.connect(index / "journal.sqlite") as db:  # the table as it was, keys dropped
        db.execute("ALTER TABLE documents DROP COLUMN record_key")
    report = RAG.from_file(BM25, index).index([corpus])
    assert (report.added, report.updated, report.unchanged) == (0, 0, 5)  # by content hash
    with sqlite3.connect(index / "journal.sqlite") as db:
        keys = db.execute("SELECT count(record_key) FROM documents").fetchone()[0]
    assert keys == 5  # unchanged documents get their key, so the next run skips them unparsed
    assert read_documents(index)[0].keys() == {f"r{n}" for n in range(5)}
    loader = RAG.from_file(BM25, index).config.indexing.components["loader"]
    journal = Journal(index, None, {})
    assert sorted(loader.load([str(corpus)], known=journal.record_keys)["recognised"]) == [
        f"r{n}" for n in range(5)
    ]
    journal.close()


# -- issue 15: ids reused across files, a changed pipeline, a huge file -----------------------


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_an_id_reused_in_another_file_is_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    a = _jsonl(tmp_path / "a.jsonl", [{"id": "x", "text": "apple"}, {"id": "y", "text": "pear"}])
    b = _jsonl(tmp_path / "b.jsonl", [{"id": "x", "text": "banana"}])
    index = tmp_path / "index"
    RAG.from_file(BM25, index).index([a])
    with pytest.raises(ConfigError, match=r"'x': in b\.jsonl, and already indexed from a\.jsonl"):
        RAG.from_file(BM25, index).index([b])
    assert sorted(_bm25_chunks(index).values()) == ["apple", "pear"]  # nothing was replaced
    # The record moved: a.jsonl, read in the same run, no longer holds it.
    _jsonl(a, [{"id": "y", "text": "pear"}])
    moved = RAG.from_file(BM25, index).index([a, b])
    assert (moved.updated, moved.unchanged) == (1, 1)
    assert sorted(_bm25_chunks(index).values()) == ["banana", "pear"]


def test_a_changed_chunker_reindexes_every_document(docs: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = RAG.from_file(BM25, index).index([docs])
    before = _bm25_chunks(index)
    small = tmp_path / "small.yaml"
    small.write_text((BM25).read_text().replace("chunk_size: 512", "chunk_size: 24"))
    again = RAG.from_file(small, index).index([docs])
    assert (again.added, again.updated, again.unchanged) == (0, first.added, 0)
    after = _bm25_chunks(index)
    assert len(after) > len(before)  # 24-token chunks, none of the 512-token ones left
    assert not set(after) & {i for i in before if i not in after or after[i] != before[i]}
    fresh = tmp_path / "fresh"
    RAG.from_file(small, fresh).index([docs])
    assert after == _bm25_chunks(fresh)
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["pipeline"]["components"]["chunker"]["init_parameters"]["chunk_size"] == 24
    last = RAG.from_file(small, index).index([docs])
    assert (last.updated, last.unchanged) == (0, first.added)


def test_a_file_too_large_to_index_fails_alone(docs: Path, tmp_path: Path) -> None:
    (docs / "huge.txt").write_text("lorem ipsum " * 200_000)  # 2.4M characters
    args = ("index", str(docs), "-c", str(BM25), "--index-dir", str(tmp_path / "index"))
    out = ragloom_cli(*args).stdout
    assert "added 5," in out and "failed 1" in out
    assert "huge.txt: too large: 2,400,000 characters (max_document_chars is 2,000,000)" in out
