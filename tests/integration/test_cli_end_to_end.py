"""`ragloom index` + `ragloom query --json` on the example corpus, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import CORPUS, ROOT, ragloom_cli


def _source_text(doc_id: str) -> str:
    return (CORPUS.parent / doc_id).read_text(encoding="utf-8")  # ids start at "corpus/"


HYBRID = str(ROOT / "examples" / "hybrid-chunks.yaml")


def test_query_json_returns_exact_spans_and_an_answer(example_index: Path) -> None:
    proc = ragloom_cli(
        "query",
        "What do k1 and b control in BM25?",
        "-c",
        HYBRID,
        "--index-dir",
        str(example_index),
        "--json",
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, "with --json stdout must carry exactly one JSON object"
    result = json.loads(lines[0])
    assert result["answer"]
    assert result["hits"]
    assert set(result["timings"]) >= {
        "query_encoder",
        "dense",
        "bm25",
        "fusion",
        "answerer",
        "total",
    }
    for hit in result["hits"]:
        assert {"doc_id", "chunk_id", "text", "score", "start", "end"} <= set(hit)
        assert _source_text(hit["doc_id"])[hit["start"] : hit["end"]] == hit["text"]
    assert result["hits"][0]["doc_id"].endswith("bm25.md")
    assert "[1]" in result["answer"] or "don't know" in result["answer"]


def test_top_k_limits_hits(example_index: Path) -> None:
    proc = ragloom_cli(
        "query",
        "reranking depth",
        "-c",
        HYBRID,
        "--index-dir",
        str(example_index),
        "--json",
        "--top-k",
        "2",
    )
    assert len(json.loads(proc.stdout)["hits"]) == 2


def test_reindexing_the_same_input_adds_no_chunk(example_index: Path) -> None:
    before = json.loads(
        ragloom_cli("index", str(CORPUS), "--index-dir", str(example_index), "--json").stdout
    )
    after = json.loads(
        ragloom_cli("index", str(CORPUS), "--index-dir", str(example_index), "--json").stdout
    )
    assert before["stored"] == after["stored"]
    assert after["stored"]["dense_writer"] == after["stored"]["bm25_writer"] > 0


def test_index_works_in_any_folder_with_default_index_dir(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text(
        "The launch code for the rocket is blue-seven.", encoding="utf-8"
    )
    ragloom_cli("index", "docs/", cwd=tmp_path)
    assert (tmp_path / ".ragloom" / "manifest.json").is_file()
    proc = ragloom_cli("query", "What is the launch code?", "-c", HYBRID, "--json", cwd=tmp_path)
    hit = json.loads(proc.stdout)["hits"][0]
    assert hit["doc_id"] == "docs/note.txt"
    assert "blue-seven" in hit["text"]


def test_query_without_index_is_a_clear_error(tmp_path: Path) -> None:
    proc = ragloom_cli("query", "anything", "--index-dir", str(tmp_path / "none"), check=False)
    assert proc.returncode != 0
    assert "ragloom index" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_index_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    proc = ragloom_cli(
        "index", str(tmp_path / "missing"), "--index-dir", str(tmp_path / "i"), check=False
    )
    assert proc.returncode != 0
    assert "missing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_default_pipeline_answers_with_the_bundled_llm_and_cites(example_index: Path) -> None:
    proc = ragloom_cli(
        "query", "What do k1 and b control in BM25?", "--index-dir", str(example_index), "--json"
    )
    result = json.loads(proc.stdout)
    assert result["generator"] == "local:smollm2-135m-instruct"
    assert result["answer"].strip()
    assert {"prompt", "generator"} <= set(result["timings"])
    passages = result["passages"]
    assert 1 <= len(passages) <= 2
    for passage in passages:
        assert _source_text(passage["doc_id"])[passage["start"] : passage["end"]] == passage["text"]
    for citation in result["citations"]:
        assert passages[citation["passage"] - 1]["chunk_id"] == citation["chunk_id"]
    assert any(p["doc_id"].endswith("bm25.md") for p in passages)


def test_default_query_streams_the_answer_to_the_terminal(example_index: Path) -> None:
    proc = ragloom_cli("query", "What is late chunking?", "--index-dir", str(example_index))
    assert proc.stdout.startswith("Answer: ")
    assert "(local:smollm2-135m-instruct)" in proc.stdout
    assert "late-chunking.md" in proc.stdout


def test_unknown_generator_model_is_a_message_not_a_trace(
    example_index: Path, tmp_path: Path
) -> None:
    default = (ROOT / "ragloom" / "defaults" / "default.yaml").read_text(encoding="utf-8")
    for model, needle in [
        ("someone/no-such-model", "bundled alias"),
        ("./no/such/dir", "does not exist"),
    ]:
        config = tmp_path / "config.yaml"
        config.write_text(
            default.replace(
                "model: smollm2-135m-instruct, max_new_tokens", f"model: {model}, max_new_tokens"
            ),
            encoding="utf-8",
        )
        proc = ragloom_cli(
            "query", "anything", "-c", str(config), "--index-dir", str(example_index), check=False
        )
        assert proc.returncode != 0
        assert needle in proc.stderr and model in proc.stderr
        assert "Traceback" not in proc.stderr
