"""Document loaders: every format, stable ids, skips that are reported, errors that locate."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ragloom.errors import ComponentConfigError
from ragloom.loaders import (
    FileLoader,
    LoaderError,
    Skipped,
    UnreadableFileError,
    iter_documents,
    load_beir_corpus,
    load_jsonl,
    load_markdown,
    load_text,
    markdown_title,
    path_id,
)

SCIFACT = Path("/work/shared/datasets/scifact/corpus.jsonl")


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- single-file loaders -------------------------------------------------------------------


def test_load_text_keeps_text_verbatim(in_tmp: Path) -> None:
    write(in_tmp / "notes" / "a.txt", "line one\r\nline two\n")
    doc = load_text(in_tmp / "notes" / "a.txt")
    assert doc.text == "line one\r\nline two\n"
    assert doc.id == "a.txt"  # a file on its own goes by its file name
    assert doc.metadata == {"source": "a.txt", "format": "text"}
    assert load_text(in_tmp / "notes" / "a.txt", name="notes/a.txt").id == "notes/a.txt"


def test_load_text_drops_bom(in_tmp: Path) -> None:
    write(in_tmp / "bom.txt", b"\xef\xbb\xbfhello")
    assert load_text("bom.txt").text == "hello"


def test_load_markdown_title_and_verbatim_text(in_tmp: Path) -> None:
    text = "Intro line\n\n```bash\n# not a heading\n```\n\n#  The Title  #\n\n## Sub\nBody\n"
    write(in_tmp / "doc.md", text)
    doc = load_markdown("doc.md")
    assert doc.text == text
    sections = [[41, 58, ["The Title"]], [58, 70, ["The Title", "Sub"]]]
    assert doc.metadata == {
        "source": "doc.md",
        "format": "markdown",
        "title": "The Title",
        "sections": sections,
    }


def test_markdown_without_heading_has_no_title(in_tmp: Path) -> None:
    write(in_tmp / "plain.markdown", "## Only a level-2 heading\n#hashtag\n")
    assert "title" not in load_markdown("plain.markdown").metadata
    assert markdown_title("~~~\n# code\n~~~\n# Real\n") == "Real"


def test_load_jsonl_ids_metadata_and_fallback_id(in_tmp: Path) -> None:
    write_jsonl(
        in_tmp / "d.jsonl",
        [
            {"id": "a", "text": "alpha", "lang": "en", "year": 2020, "tags": ["x"]},
            {"_id": 7, "text": "beta", "source": "web"},
            {"text": "gamma"},
        ],
    )
    docs = load_jsonl("d.jsonl")
    assert [d.id for d in docs] == ["a", "7", "d.jsonl:3"]
    assert docs[0].metadata == {"source": "d.jsonl", "format": "jsonl", "lang": "en", "year": 2020}
    assert docs[1].metadata == {"source": "d.jsonl", "format": "jsonl", "record_source": "web"}


def test_load_jsonl_custom_fields_and_blank_lines(in_tmp: Path) -> None:
    write(in_tmp / "c.jsonl", '{"key": "k1", "body": "one"}\n\n{"key": "k2", "body": "two"}\n')
    docs = load_jsonl("c.jsonl", text_field="body", id_field="key")
    assert [(d.id, d.text) for d in docs] == [("k1", "one"), ("k2", "two")]


def test_bad_json_line_names_file_and_line(in_tmp: Path) -> None:
    write(in_tmp / "bad.jsonl", '{"id": "1", "text": "ok"}\n{"id": "2", "text": \n')
    with pytest.raises(LoaderError, match=r"bad\.jsonl:2: invalid JSON"):
        load_jsonl("bad.jsonl")


def test_missing_text_field_names_file_line_and_field(in_tmp: Path) -> None:
    write_jsonl(in_tmp / "m.jsonl", [{"id": "1", "text": "ok"}, {"id": "2", "body": "no"}])
    with pytest.raises(LoaderError, match=r"m\.jsonl:2: missing field 'text'"):
        load_jsonl("m.jsonl")
    with pytest.raises(LoaderError, match=r"m\.jsonl:1: missing field 'body'"):
        load_jsonl("m.jsonl", text_field="body")


def test_non_string_text_field_is_an_error(in_tmp: Path) -> None:
    write_jsonl(in_tmp / "n.jsonl", [{"id": "1", "text": 3}])
    with pytest.raises(LoaderError, match=r"n\.jsonl:1: field 'text' must be a string"):
        load_jsonl("n.jsonl")


def test_beir_title_handling(in_tmp: Path) -> None:
    write_jsonl(
        in_tmp / "beir" / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Title", "text": "Body."},
            {"_id": "d2", "title": "", "text": "No title."},
            {"_id": "d3", "text": "Title missing."},
        ],
    )
    for path, source in (("beir/corpus.jsonl", "corpus.jsonl"), ("beir", "beir/corpus.jsonl")):
        docs = load_beir_corpus(path)
        assert [d.id for d in docs] == ["d1", "d2", "d3"]
        assert [d.text for d in docs] == ["Title\n\nBody.", "No title.", "Title missing."]
        assert docs[0].metadata == {"title": "Title", "source": source, "format": "beir"}
        assert docs[1].metadata["title"] == ""


def test_beir_missing_id_is_an_error(in_tmp: Path) -> None:
    write_jsonl(in_tmp / "corpus.jsonl", [{"title": "t", "text": "x"}])
    with pytest.raises(LoaderError, match=r"corpus\.jsonl:1: missing field '_id'"):
        load_beir_corpus("corpus.jsonl")


# --- ids -----------------------------------------------------------------------------------


def test_ids_start_at_the_folder_given_and_are_stable(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(in_tmp / "docs" / "sub" / "a.txt", "a")
    write(in_tmp / "docs" / "b.md", "b")
    first = [d.id for d in iter_documents(["docs"])]
    second = [d.id for d in iter_documents([str(in_tmp / "docs")])]  # absolute input, same ids
    assert first == second == ["docs/b.md", "docs/sub/a.txt"]
    monkeypatch.chdir(in_tmp / "docs")
    assert [d.id for d in iter_documents(["."])] == ["docs/b.md", "docs/sub/a.txt"]


def test_ids_outside_cwd_do_not_depend_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "data" / "a.txt", "a")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    doc = next(iter(iter_documents([tmp_path / "data"])))
    assert doc.id == "data/a.txt"
    assert doc.metadata["source"] == doc.id
    assert path_id(tmp_path / "data" / "a.txt", tmp_path / "data") == "data/a.txt"
    assert path_id(tmp_path / "data" / "a.txt") == "a.txt"


# --- iter_documents ------------------------------------------------------------------------


def test_every_format_from_one_folder(in_tmp: Path) -> None:
    write(in_tmp / "c" / "a.txt", "text")
    write(in_tmp / "c" / "b.md", "# B\nmarkdown")
    write(in_tmp / "c" / "c.markdown", "markdown too")
    write_jsonl(in_tmp / "c" / "d.jsonl", [{"id": "j1", "text": "json"}])
    write_jsonl(in_tmp / "c" / "e" / "corpus.jsonl", [{"_id": "b1", "title": "", "text": "beir"}])
    stream = iter_documents(["c"])
    docs = list(stream)
    assert [(d.id, d.metadata["format"]) for d in docs] == [
        ("c/a.txt", "text"),
        ("c/b.md", "markdown"),
        ("c/c.markdown", "markdown"),
        ("j1", "jsonl"),
        ("b1", "beir"),
    ]
    assert stream.skipped == []
    assert stream.files_read == 5


def test_beir_folder_reads_only_the_corpus(in_tmp: Path) -> None:
    write_jsonl(in_tmp / "ds" / "corpus.jsonl", [{"_id": "1", "title": "T", "text": "x"}])
    write_jsonl(in_tmp / "ds" / "queries.jsonl", [{"_id": "q1", "text": "query?"}])
    write(in_tmp / "ds" / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\n")
    write(in_tmp / "ds" / "README.md", "about")
    assert [d.id for d in iter_documents(["ds"])] == ["1"]


def test_recursive_walk_order_and_non_recursive(in_tmp: Path) -> None:
    for name in ("b/z.txt", "b/a/y.txt", "a.txt", "c.txt", "B.txt", "b/m.txt"):
        write(in_tmp / "root" / name, name)
    ids = [d.id for d in iter_documents(["root"])]
    assert ids == ["root/B.txt", "root/a.txt", "root/b/a/y.txt", "root/b/m.txt", "root/b/z.txt",
                   "root/c.txt"]  # fmt: skip
    flat = [d.id for d in iter_documents(["root"], recursive=False)]
    assert flat == ["root/B.txt", "root/a.txt", "root/c.txt"]


def test_hidden_files_and_folders_are_skipped(in_tmp: Path) -> None:
    write(in_tmp / "r" / ".hidden.txt", "h")
    write(in_tmp / "r" / ".git" / "notes.txt", "h")
    write(in_tmp / "r" / "seen.txt", "s")
    stream = iter_documents(["r"])
    assert [d.id for d in stream] == ["r/seen.txt"]
    assert stream.skipped == []


def test_unknown_extension_ignored_in_folders_reported_when_named(in_tmp: Path) -> None:
    write(in_tmp / "u" / "a.txt", "a")
    write(in_tmp / "u" / "image.png", b"\x89PNG")
    write(in_tmp / "u" / "script.py", "print()")
    stream = iter_documents(["u"])
    assert [d.id for d in stream] == ["u/a.txt"]
    assert stream.skipped == []
    named = iter_documents(["u/script.py"])
    assert list(named) == []
    assert named.skipped == [Skipped("script.py", "extension '.py' not in extensions")]


def test_extensions_filter_and_case(in_tmp: Path) -> None:
    write(in_tmp / "e" / "a.TXT", "upper")
    write(in_tmp / "e" / "b.md", "md")
    assert [d.id for d in iter_documents(["e"], extensions=[".txt"])] == ["e/a.TXT"]


def test_binary_undecodable_and_empty_files_skipped_and_reported(in_tmp: Path) -> None:
    write(in_tmp / "s" / "binary.txt", b"abc\x00def")
    write(in_tmp / "s" / "latin1.txt", "caf\xe9".encode("latin-1"))
    write(in_tmp / "s" / "empty.md", "")
    write(in_tmp / "s" / "blank.txt", " \n\t\n")
    write(in_tmp / "s" / "good.txt", "good")
    write_jsonl(
        in_tmp / "s" / "recs.jsonl", [{"id": "r1", "text": "  "}, {"id": "r2", "text": "x"}]
    )
    stream = iter_documents(["s"])
    assert [d.id for d in stream] == ["s/good.txt", "r2"]
    reasons = {path: reason for path, reason in stream.skipped}
    assert reasons["s/binary.txt"].startswith("binary file")
    assert reasons["s/latin1.txt"].startswith("cannot decode as utf-8 at byte 3")
    assert reasons["s/empty.md"] == "empty file"
    assert reasons["s/blank.txt"] == "empty file"
    assert reasons["s/recs.jsonl:1"] == "empty text"
    assert len(stream.skipped) == 5
    assert str(stream.skipped[0]) == f"{stream.skipped[0].path}: {stream.skipped[0].reason}"


def test_other_encoding_reads_what_utf8_cannot(in_tmp: Path) -> None:
    write(in_tmp / "latin1.txt", "caf\xe9".encode("latin-1"))
    assert [d.text for d in iter_documents(["latin1.txt"], encoding="latin-1")] == ["caf\xe9"]


def test_single_file_loader_raises_unreadable(in_tmp: Path) -> None:
    write(in_tmp / "bin.txt", b"\x00\x01")
    with pytest.raises(UnreadableFileError, match=r"bin\.txt: binary file"):
        load_text("bin.txt")


def test_unreadable_file_skipped(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(in_tmp / "locked.txt", "secret")
    write(in_tmp / "open.txt", "fine")
    real_read_bytes = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path.name == "locked.txt":  # chmod 0 would not stop root, so fake the refusal
            raise PermissionError(13, "Permission denied", str(path))
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    stream = iter_documents(["."])  # named from the folder's own name
    assert [d.id for d in stream] == [f"{in_tmp.name}/open.txt"]
    assert stream.skipped == [
        Skipped(f"{in_tmp.name}/locked.txt", "cannot read: Permission denied")
    ]


def test_nonexistent_path_is_an_error(in_tmp: Path) -> None:
    write(in_tmp / "real.txt", "x")
    with pytest.raises(LoaderError, match="path does not exist: nowhere"):
        iter_documents(["real.txt", "nowhere"])


def test_duplicate_ids_across_inputs_name_both_sources(in_tmp: Path) -> None:
    write_jsonl(in_tmp / "one.jsonl", [{"id": "same", "text": "first"}])
    write_jsonl(in_tmp / "two.jsonl", [{"id": "x", "text": "y"}, {"id": "same", "text": "again"}])
    with pytest.raises(
        LoaderError, match=r"duplicate document id 'same'.*one\.jsonl:1.*two\.jsonl:2"
    ):
        list(iter_documents(["one.jsonl", "two.jsonl"]))


def test_same_file_named_twice_is_read_once(in_tmp: Path) -> None:
    write(in_tmp / "d" / "a.txt", "a")
    assert [d.id for d in iter_documents(["d", "d/a.txt", "./d/a.txt"])] == ["d/a.txt"]


def test_invalid_extensions_raise(in_tmp: Path) -> None:
    with pytest.raises(LoaderError, match=r"must start with '\.'"):
        iter_documents(["."], extensions=["txt"])


# --- the file_loader component -------------------------------------------------------------


def test_component_is_registered_and_round_trips() -> None:
    assert FileLoader.type_name == "file_loader"  # set by @register("file_loader")
    loader = FileLoader(extensions=[".md"], recursive=False, jsonl_text_field="body")
    data = loader.to_dict()
    assert data == {
        "type": "file_loader",
        "init_parameters": {
            "extensions": [".md"],
            "recursive": False,
            "encoding": "utf-8",
            "jsonl_text_field": "body",
            "jsonl_id_field": "id",
            "max_document_chars": 2_000_000,
        },
    }
    again = FileLoader.from_dict(data)
    assert isinstance(again, FileLoader)
    assert again.to_dict() == data


@pytest.mark.parametrize(
    "params",
    [
        {"extensions": ["txt"]},
        {"extensions": [".rst"]},
        {"extensions": []},
        {"encoding": "no-such-codec"},
        {"jsonl_text_field": ""},
        {"recursiv": True},
    ],
)
def test_component_rejects_bad_config(params: dict) -> None:
    with pytest.raises(ComponentConfigError):
        FileLoader(**params)


def test_component_bad_extension_message_suggests_dot() -> None:
    with pytest.raises(ComponentConfigError, match=r"did you mean '\.txt'"):
        FileLoader(extensions=["txt"])


def test_component_run_outputs_and_logs_skips(
    in_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(in_tmp / "k" / "a.md", "# A\nalpha")
    write(in_tmp / "k" / "bad.txt", b"\x00")
    with caplog.at_level(logging.WARNING, logger="ragloom.loaders.components"):
        out = FileLoader().run(paths=["k"])
    assert set(out) == set(FileLoader.output_sockets())
    assert [d.id for d in out["documents"]] == ["k/a.md"]
    assert out["documents"][0].metadata["title"] == "A"
    assert out["skipped"] == ["k/bad.txt: binary file (contains NUL bytes)"]
    assert "k/bad.txt" in caplog.text


def test_component_duplicate_ids_error(in_tmp: Path) -> None:
    write_jsonl(in_tmp / "x.jsonl", [{"id": "dup", "text": "a"}, {"id": "dup", "text": "b"}])
    with pytest.raises(LoaderError, match=r"'dup': from x\.jsonl:1 and x\.jsonl:2"):
        FileLoader().run(paths=["x.jsonl"])


def test_component_progress_bar_over_many_files(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGLOOM_PROGRESS", "1")
    for n in range(25):
        write(in_tmp / "many" / f"{n:02d}.txt", f"doc {n}")
    out = FileLoader().run(paths=["many"])
    assert len(out["documents"]) == 25


# --- the real BEIR corpus ------------------------------------------------------------------


@pytest.mark.skipif(not SCIFACT.is_file(), reason="shared SciFact corpus not present")
def test_real_scifact_corpus_loads_with_unique_ids() -> None:
    """Every record, none skipped (its speed is a benchmark's to measure, not a test's)."""
    stream = iter_documents([SCIFACT])
    docs = list(stream)
    assert len(docs) == 5183
    assert len({d.id for d in docs}) == 5183
    assert stream.skipped == []
    assert all(d.metadata["format"] == "beir" and d.text for d in docs)


def test_file_loader_reports_empty_documents_by_id(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "full.txt").write_text("some words", encoding="utf-8")
    (tmp_path / "blank.txt").write_text("  \n", encoding="utf-8")
    out = FileLoader().run(paths=["."])
    assert [d.id for d in out["documents"]] == [f"{tmp_path.name}/full.txt"]
    assert out["empty"] == [f"{tmp_path.name}/blank.txt"]


# -- issue 15: failed inputs never stop a run ------------------------------------------------


def test_a_malformed_jsonl_record_is_listed_failed_and_the_rest_load(in_tmp: Path) -> None:
    write(
        in_tmp / "f" / "a.jsonl",
        '{"id": "1", "text": "one"}\n{"id": "2", "text": \n[1, 2]\n{"id": "3", "body": "x"}\n'
        '{"id": {"x": 1}, "text": "bad id"}\n{"id": "6", "text": "six"}\n',
    )
    write(in_tmp / "f" / "b.md", "# B\nbee")
    stream = iter_documents(["f"])
    assert [d.id for d in stream] == ["1", "6", "f/b.md"]
    assert [str(s) for s in stream.skipped] == [
        "f/a.jsonl:2: invalid JSON: Expecting value",
        "f/a.jsonl:3: expected a JSON object, got list",
        "f/a.jsonl:4: missing field 'text' (fields: id, body)",
        "f/a.jsonl:5: field 'id' must be a string or integer, got dict",
    ]
    with pytest.raises(LoaderError, match=r"a\.jsonl:2: invalid JSON"):
        load_jsonl("f/a.jsonl")  # the one-file API still refuses the file


def test_a_looping_symlink_is_listed_failed(in_tmp: Path) -> None:
    write(in_tmp / "s" / "ok.txt", "fine")
    (in_tmp / "s" / "self.txt").symlink_to("self.txt")
    (in_tmp / "s" / "gone.md").symlink_to("missing.md")
    (in_tmp / "s" / "other.bin").symlink_to("other.bin")  # not an indexed extension
    stream = iter_documents(["s"])
    assert [d.id for d in stream] == ["s/ok.txt"]
    assert sorted(str(s) for s in stream.skipped) == [
        "s/gone.md: broken or looping symbolic link",
        "s/self.txt: broken or looping symbolic link",
    ]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(in_tmp: Path, codec: str) -> None:
    text = "café, naïve — 漢字"
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    write(in_tmp / "w.txt", data)
    assert [d.text for d in iter_documents(["w.txt"])] == [text]


def test_a_document_over_max_chars_is_listed_failed_with_its_size(in_tmp: Path) -> None:
    write(in_tmp / "big" / "huge.txt", "word " * 1000)
    write(in_tmp / "big" / "small.txt", "word")
    stream = iter_documents(["big"], max_chars=4000)
    assert [d.id for d in stream] == ["big/small.txt"]
    assert [str(s) for s in stream.skipped] == [
        "big/huge.txt: too large: 5,000 characters (max_document_chars is 4,000)"
    ]
    loader = FileLoader(max_document_chars=4000)
    assert loader.run(paths=["big"])["skipped"] == [str(stream.skipped[0])]
    assert [d.id for d in FileLoader(max_document_chars=None).run(paths=["big"])["documents"]] == [
        "big/huge.txt",
        "big/small.txt",
    ]
