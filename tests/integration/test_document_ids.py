"""Issue 14.9: document ids come from the path given to `ragloom index`, not the working directory.

Indexed from another folder, or through an absolute path, a folder is unchanged; two files with
one name are refused; an index whose ids an earlier ragloom made from the working directory is
refused when a run would leave a document twice, and re-keyed by a `--prune` run. Every index
here has a BM25 and a Chroma writer (hashing encoder: no model), whose chunk ids must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.errors import ConfigError, RagloomError
from ragloom.indexing.journal import read_documents
from ragloom.rag import RAG
from tests.integration.conftest import CORPUS, ragloom_cli

BOTH_WRITERS = """\
version: 1
indexing:
  components:
    loader: {type: file_loader}
    chunker: {type: sentence_chunker, init_parameters: {sentences_per_chunk: 3}}
    encoder: {type: hashing_encoder, init_parameters: {dimension: 64, ngram: 1}}
    dense_writer: {type: chroma_writer, init_parameters: {collection: ragloom}}
    bm25_writer: {type: bm25_writer}
  connections:
    - {sender: loader.documents, receiver: chunker.documents}
    - {sender: chunker.chunks, receiver: encoder.chunks}
    - {sender: encoder.chunks, receiver: dense_writer.chunks}
    - {sender: chunker.chunks, receiver: bm25_writer.chunks}
    - {sender: loader.empty, receiver: dense_writer.delete_documents}
    - {sender: loader.empty, receiver: bm25_writer.delete_documents}
  inputs:
    paths: [loader.paths]
  outputs:
    documents: loader.documents
    skipped: loader.skipped
    empty: loader.empty
    dense_written: dense_writer.written
    bm25_written: bm25_writer.written
query:
  components:
    retriever: {type: bm25_retriever, init_parameters: {top_k: 5}}
  inputs:
    query: [retriever.query]
  outputs:
    hits: retriever.hits
"""

NAMES = sorted(path.name for path in CORPUS.iterdir())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "both.yaml"
    path.write_text(BOTH_WRITERS, encoding="utf-8")
    return path


def counts(report: object) -> tuple[int, int, int, int]:
    return (report.added, report.updated, report.unchanged, report.deleted)  # type: ignore[attr-defined]


def stored_doc_ids(config: Path, index_dir: Path) -> list[str]:
    """The document ids of the stored chunks, sorted; Chroma's chunk ids equal BM25's and
    none is stored twice."""
    rag = RAG.from_file(config, index_dir)
    rag.chunk_counts()  # binds the stores to index_dir
    components = rag.config.indexing.components
    dense = components["dense_writer"].store.collection.get(include=[])["ids"]
    bm25 = list(components["bm25_writer"].store.chunk_ids())
    assert len(dense) == len(set(dense)) and len(bm25) == len(set(bm25))
    assert set(dense) == set(bm25)
    return sorted({chunk_id.split("#")[0] for chunk_id in bm25})


def manifest_of(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))


def as_written_before_format_3(index_dir: Path) -> None:
    """Make the manifest what an earlier ragloom wrote: format 2, no `legacy_ids` mark."""
    manifest = manifest_of(index_dir)
    manifest["format_version"] = 2
    manifest.pop("legacy_ids", None)
    (index_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_a_folder_indexed_from_any_working_directory_is_unchanged(
    docs: Path, tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    monkeypatch.chdir(tmp_path)
    first = RAG.from_file(config, index).index(["docs"])
    assert counts(first) == (len(NAMES), 0, 0, 0)
    ids = [f"docs/{name}" for name in NAMES]
    assert stored_doc_ids(config, index) == ids
    assert sorted(read_documents(index)[0]) == ids

    monkeypatch.chdir(docs)
    assert counts(RAG.from_file(config, index).index(["."])) == (0, 0, len(NAMES), 0)
    monkeypatch.chdir(docs / "..")
    assert counts(RAG.from_file(config, index).index([docs])) == (0, 0, len(NAMES), 0)

    # The CLI in an unrelated folder, the folder spelled through "..".
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = ("index", f"{docs}/../docs/", "-c", str(config), "--index-dir", str(index), "--json")
    report = json.loads(ragloom_cli(*args, cwd=elsewhere).stdout)
    assert (report["added"], report["unchanged"], report["failed"]) == (0, len(NAMES), [])
    assert stored_doc_ids(config, index) == ids
    assert sorted(read_documents(index)[0]) == ids
    assert manifest_of(index)["format_version"] == 3 and "legacy_ids" not in manifest_of(index)


def test_two_files_with_one_id_are_refused_before_anything_is_written(
    tmp_path: Path, config: Path
) -> None:
    first = tmp_path / "a" / "docs" / "x.md"
    second = tmp_path / "b" / "docs" / "x.md"
    for path, text in ((first, "The first x."), (second, "The second x.")):
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
    index = tmp_path / "index"
    with pytest.raises(RagloomError) as refused:
        RAG.from_file(config, index).index([first.parent, second.parent])
    assert f"'docs/x.md' would name two files, {first} and {second}" in str(refused.value)
    assert read_documents(index) == ({}, set())

    args = ("index", "a/docs", "b/docs", "-c", str(config), "--index-dir", str(index))
    proc = ragloom_cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "'docs/x.md' would name two files, a/docs/x.md and b/docs/x.md" in proc.stderr

    # Their parent folders keep them apart.
    report = RAG.from_file(config, index).index([tmp_path / "a", tmp_path / "b"])
    assert counts(report) == (2, 0, 0, 0)
    assert stored_doc_ids(config, index) == ["a/docs/x.md", "b/docs/x.md"]


def test_an_index_with_working_directory_ids_is_refused_then_re_keyed_by_prune(
    docs: Path, tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `ragloom index .` inside docs/ named its files without the folder's name before format
    # 3; indexing each file on its own names them the same way today.
    index = tmp_path / "index"
    RAG.from_file(config, index).index(sorted(docs.iterdir()))
    as_written_before_format_3(index)
    before = read_documents(index)
    assert stored_doc_ids(config, index) == NAMES

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as refused:
        RAG.from_file(config, index).index(["docs"])
    message = str(refused.value)
    assert "was indexed by an earlier ragloom" in message and "\n" not in message
    more = f"(and {len(NAMES) - 1} more)"
    assert f"it holds 'bm25.md', which this run names 'docs/bm25.md' {more}" in message
    assert "--prune" in message and "--index-dir" in message
    # Nothing was written: the journal, both stores and the manifest are as they were.
    assert read_documents(index) == before
    assert stored_doc_ids(config, index) == NAMES
    assert manifest_of(index)["format_version"] == 2

    args = ("index", "docs", "-c", str(config), "--index-dir", str(index))
    proc = ragloom_cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "which this run names 'docs/" in proc.stderr

    migrated = RAG.from_file(config, index).index(["docs"], prune=True)
    assert counts(migrated) == (len(NAMES), 0, 0, len(NAMES))
    assert stored_doc_ids(config, index) == [f"docs/{name}" for name in NAMES]
    assert manifest_of(index)["format_version"] == 3 and "legacy_ids" not in manifest_of(index)
    monkeypatch.chdir(docs)
    assert counts(RAG.from_file(config, index).index(["."])) == (0, 0, len(NAMES), 0)


def test_an_earlier_index_whose_ids_did_not_change_is_used_as_it_is(
    docs: Path, tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    index = tmp_path / "index"
    more = tmp_path / "more"
    more.mkdir()
    (more / "extra.md").write_text("# Extra\nAn extra page.", encoding="utf-8")
    # An earlier ragloom ran `ragloom index docs` here, which gave the ids it gives today, and
    # `ragloom index .` inside more/, which named its file "extra.md" (as a file given alone is
    # named today).
    RAG.from_file(config, index).index(["docs"])
    RAG.from_file(config, index).index([more / "extra.md"])
    as_written_before_format_3(index)

    again = RAG.from_file(config, index).index([docs])
    assert counts(again) == (0, 0, len(NAMES), 0)
    assert manifest_of(index)["format_version"] == 3
    assert manifest_of(index)["legacy_ids"] is True  # "extra.md" is still an old id
    (docs / "new.md").write_text("# New\nA page added since.", encoding="utf-8")
    assert counts(RAG.from_file(config, index).index(["docs"])) == (1, 0, len(NAMES), 0)

    with pytest.raises(ConfigError, match=r"holds 'extra\.md', which this run names 'more/extra"):
        RAG.from_file(config, index).index(["more"])
    pruned = RAG.from_file(config, index).index(["docs", "more"], prune=True)
    assert counts(pruned) == (1, 0, len(NAMES) + 1, 1)
    assert "legacy_ids" not in manifest_of(index)
    ids = sorted([*(f"docs/{name}" for name in NAMES), "docs/new.md", "more/extra.md"])
    assert stored_doc_ids(config, index) == ids


def test_records_keep_their_ids_whatever_their_file_was_named(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    records = [{"id": f"r{n}", "text": f"Record {n} is about retrieval."} for n in range(3)]
    data = corpus / "records.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    index = tmp_path / "index"
    monkeypatch.chdir(corpus)
    RAG.from_file(config, index).index(["records.jsonl"])  # its source: "records.jsonl"
    as_written_before_format_3(index)
    monkeypatch.chdir(tmp_path)
    # Read through its folder, the file is "corpus/records.jsonl": the same file, not a record
    # id reused by another one; the records are rewritten (their source changed), not added.
    report = RAG.from_file(config, index).index(["corpus"])
    assert counts(report) == (0, 3, 0, 0)
    assert stored_doc_ids(config, index) == ["r0", "r1", "r2"]
    assert counts(RAG.from_file(config, index).index([corpus])) == (0, 0, 3, 0)
