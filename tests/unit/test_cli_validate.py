"""`ragloom validate` and `ragloom components`: clear messages with file and line, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

VALID = """\
version: 1
indexing:
  components:
    loader: {type: file_loader}
    chunker:
      type: token_chunker
      init_parameters: {chunk_size: 64, overlap: 8}
    writer: {type: bm25_writer}
  connections:
    - {sender: loader.documents, receiver: chunker.documents}
    - {sender: chunker.chunks, receiver: writer.chunks}
  inputs:
    paths: [loader.paths]
query:
  components:
    bm25: {type: bm25_retriever}
  inputs:
    query: [bm25.query]
  outputs:
    hits: bm25.hits
"""


def _validate(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _with(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


def test_valid_configuration_passes(tmp_path: Path) -> None:
    code, out = _validate(tmp_path, VALID)
    assert code == 0, out
    assert "valid configuration" in out


@pytest.mark.parametrize(
    ("text", "line", "needles"),
    [
        (
            _with("type: bm25_writer", "type: bm25_writr"),
            8,
            ["'writer'", "bm25_writr", "Did you mean 'bm25_writer'"],
        ),
        (
            _with("type: bm25_writer", "type: os.system"),
            8,
            ["'writer'", "unknown component type 'os.system'"],
        ),
        (
            _with("{chunk_size: 64, overlap: 8}", "{chunk_sise: 64, overlap: 8}"),
            7,
            ["'chunker'", "chunk_sise", "did you mean 'chunk_size'"],
        ),
        (
            _with("{chunk_size: 64, overlap: 8}", "{chunk_size: big, overlap: 8}"),
            7,
            ["'chunker'", "chunk_size", "integer"],
        ),
        (
            _with("{chunk_size: 64, overlap: 8}", "{chunk_size: true, overlap: 8}"),
            7,
            ["'chunker'", "chunk_size", "valid integer (got True)"],
        ),
        (
            _with("{chunk_size: 64, overlap: 8}", '{chunk_size: "512", overlap: 8}'),
            7,
            ["'chunker'", "chunk_size", "valid integer (got '512')"],
        ),
        (
            _with(
                "bm25: {type: bm25_retriever}",
                "bm25: {type: bm25_retriever, init_parameters: {k1: '1.2'}}",
            ),
            16,
            ["'bm25'", "k1", "valid number (got '1.2')"],
        ),
        (
            _with(
                "bm25: {type: bm25_retriever}",
                "bm25: {type: bm25_retriever, init_parameters: {b: false}}",
            ),
            16,
            ["'bm25'", "'b'", "valid number (got False)"],
        ),
        (
            _with("receiver: writer.chunks", "receiver: writer.chunkz"),
            11,
            ["writer has no input 'chunkz'", "chunks (list[Chunk])"],
        ),
        (
            _with("sender: chunker.chunks", "sender: loader.documents"),
            11,
            ["type mismatch", "list[Document]", "list[Chunk]"],
        ),
        (
            _with("    paths: [loader.paths]", "    paths: [chunker.documents]"),
            4,
            ["'loader'", "required input 'paths'"],
        ),
    ],
    ids=[
        "unknown-type",
        "os-system",
        "misspelt-parameter",
        "wrong-type",
        "bool-as-int",
        "string-as-int",
        "string-as-float",
        "bool-as-float",
        "missing-socket",
        "type-mismatch",
        "missing-input",
    ],
)
def test_invalid_configuration_names_component_field_file_and_line(
    tmp_path: Path, text: str, line: int, needles: list[str]
) -> None:
    code, out = _validate(tmp_path, text)
    assert code != 0
    assert f"config.yaml:{line}:" in out
    for needle in needles:
        assert needle in out


def test_float_parameters_take_integers_and_int_literals_refuse_booleans(tmp_path: Path) -> None:
    code, out = _validate(
        tmp_path,
        _with(
            "bm25: {type: bm25_retriever}",
            "bm25: {type: bm25_retriever, init_parameters: {k1: 1, b: 1}}",
        ),
    )
    assert code == 0, out
    base = (ROOT / "examples" / "hashing-dense.yaml").read_text(encoding="utf-8")
    assert "ngram: 1" in base
    code, out = _validate(tmp_path, base.replace("ngram: 1}\n", "ngram: true}\n", 1))
    assert code != 0 and "parameter 'ngram': Input should be 1 or 2 (got True)" in out


@pytest.mark.parametrize(
    "config",
    sorted(
        [
            *(ROOT / "examples").glob("*.yaml"),
            *(ROOT / "tests" / "integration" / "configs").glob("*.yaml"),
        ]
    ),
    ids=lambda p: p.name,
)
def test_every_shipped_configuration_validates_strictly(config: Path) -> None:
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output


def test_cycle_is_reported(tmp_path: Path) -> None:
    text = """\
components:
  f1: {type: rrf_fusion}
  f2: {type: rrf_fusion}
connections:
  - {sender: f1.hits, receiver: f2.hits}
  - {sender: f2.hits, receiver: f1.hits}
"""
    code, out = _validate(tmp_path, text)
    assert code != 0
    assert "cycle" in out and "f1" in out and "f2" in out


def test_malformed_yaml_gives_a_parse_error_with_a_line(tmp_path: Path) -> None:
    code, out = _validate(tmp_path, "components:\n  f1:\n    type: rrf_fusion\n   oops: [1\n")
    assert code != 0
    assert "YAML parse error" in out
    assert "config.yaml:4:" in out


def test_python_tags_are_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    code, out = _validate(
        tmp_path, f'components: !!python/object/apply:os.system ["touch {marker}"]\n'
    )
    assert code != 0
    assert not marker.exists()
    assert "config.yaml:1:" in out


def test_missing_file_is_a_message_not_a_trace(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code != 0
    assert "file not found" in result.output
    assert "Traceback" not in result.output


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = _with("type: bm25_writer", "type: nope").replace("{chunk_size: 64", "{chunk_sise: 64")
    code, out = _validate(tmp_path, text)
    assert code != 0
    assert "2 problem(s)" in out


def test_query_encoder_must_match_the_index_encoder(tmp_path: Path) -> None:
    text = (
        (ROOT / "examples" / "hybrid-chunks.yaml")
        .read_text()
        .replace(
            "type: query_encoder\n      init_parameters: {model: minilm}",
            "type: query_encoder\n      init_parameters: {model: minilm, pooling: cls}",
        )
    )
    assert "pooling: cls" in text
    code, out = _validate(tmp_path, text)
    assert code != 0
    assert "pooling" in out and "encoded like the index" in out


def test_components_lists_types_with_parameters() -> None:
    result = runner.invoke(app, ["components", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert {
        "file_loader",
        "token_chunker",
        "chunk_encoder",
        "chroma_retriever",
        "bm25_retriever",
    } <= set(listing)
    chunker = listing["token_chunker"]
    assert chunker["parameters"]["chunk_size"] == {
        "type": "int (> 0)",
        "default": 128,
        "required": False,
    }
    assert chunker["inputs"] == {"documents": "list[Document]"}
    human = runner.invoke(app, ["components"])
    assert "token_chunker" in human.output and "chunk_size" in human.output


def test_help_reads_well() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("index", "query", "validate", "components"):
        assert command in result.output


def test_built_in_default_is_the_local_llm_example() -> None:
    import yaml

    default = yaml.safe_load((ROOT / "ragloom" / "defaults" / "default.yaml").read_text())
    example = yaml.safe_load((ROOT / "examples" / "local-llm.yaml").read_text())
    assert default == example
