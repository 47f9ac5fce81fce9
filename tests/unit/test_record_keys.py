"""Record keys: unchanged JSONL records are recognised by their bytes and not parsed again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.indexing.plan import plan_documents
from ragloom.loaders.components import FileLoader
from ragloom.loaders.files import LoaderError


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    records = [{"id": f"d{n}", "text": f"text number {n}", "lang": "en"} for n in range(5)]
    _write(tmp_path / "a.jsonl", [*records, {"text": "no id, so keyed by position", "lang": "fr"}])
    return tmp_path / "a.jsonl"


def _known(outputs: dict) -> dict[bytes, str]:
    return {key: doc_id for doc_id, key in outputs["record_keys"].items()}


def test_documents_with_an_id_get_a_key_positional_ids_do_not(corpus: Path) -> None:
    out = FileLoader().load([str(corpus)], known={})
    assert [d.id for d in out["documents"]] == ["d0", "d1", "d2", "d3", "d4", "a.jsonl:6"]
    assert sorted(out["record_keys"]) == ["d0", "d1", "d2", "d3", "d4"]
    assert len(set(out["record_keys"].values())) == 5
    assert out["recognised"] == []
    assert "record_keys" not in FileLoader().run([str(corpus)])  # plain runs compute none


def test_unchanged_records_are_recognised_changed_ones_loaded(corpus: Path) -> None:
    known = _known(FileLoader().load([str(corpus)], known={}))
    lines = corpus.read_text().splitlines()
    lines[1] = json.dumps({"id": "d1", "text": "edited"})
    lines.insert(0, json.dumps({"id": "new", "text": "added"}))  # every line moves down one
    lines[3], lines[4] = lines[4], lines[3]
    corpus.write_text("\n".join(lines) + "\n")
    out = FileLoader().load([str(corpus)], known=known)
    assert sorted(out["recognised"]) == ["d0", "d2", "d3", "d4"]  # moved lines still match
    assert [d.id for d in out["documents"]] == ["new", "d1", "a.jsonl:7"]
    assert sorted(out["record_keys"]) == ["d1", "new"]


def test_keys_depend_on_the_file_and_the_loader_settings(corpus: Path) -> None:
    known = _known(FileLoader().load([str(corpus)], known={}))
    copy = corpus.with_name("b.jsonl")
    copy.write_bytes(corpus.read_bytes())
    assert FileLoader().load([str(copy)], known=known)["recognised"] == []
    other = FileLoader(jsonl_text_field="lang").load([str(corpus)], known=known)
    assert other["recognised"] == [] and other["documents"][0].text == "en"


def test_a_recognised_record_twice_is_still_a_duplicate_id(corpus: Path) -> None:
    known = _known(FileLoader().load([str(corpus)], known={}))
    first = corpus.read_text().splitlines()[0]
    corpus.write_text(corpus.read_text() + first + "\n")
    with pytest.raises(LoaderError, match="duplicate document id 'd0'"):
        FileLoader().load([str(corpus)], known=known)


def test_the_plan_counts_recognised_documents_unchanged_and_keeps_new_keys(corpus: Path) -> None:
    loader = FileLoader()
    first = loader.load([str(corpus)], known={})
    hashes = {d.id: d.hash for d in first["documents"]}
    corpus.write_text(corpus.read_text().replace("text number 2", "text number two"))
    out = loader.load([str(corpus)], known=_known(first))
    plan = plan_documents(
        out["documents"], [], [], hashes, (), True, out["recognised"], out["record_keys"]
    )
    assert sorted(plan.unchanged) == ["a.jsonl:6", "d0", "d1", "d3", "d4"]
    assert plan.updated == ["d2"] and plan.delete == []  # prune spares recognised documents
    assert list(plan.record_keys) == ["d2"] and plan.record_keys["d2"] != first["record_keys"]["d2"]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_other_encodings_are_keyed_and_recognised(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "e.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "café crème"}, ensure_ascii=False),
        '{"id": "b", "text": "x"}',
    ]
    path.write_bytes("\n".join(lines).encode(encoding))
    loader = FileLoader(encoding=encoding)
    first = loader.load([str(path)], known={})
    assert [d.text for d in first["documents"]] == ["café crème", "x"]
    again = loader.load([str(path)], known=_known(first))
    assert sorted(again["recognised"]) == ["a", "b"] and again["documents"] == []
