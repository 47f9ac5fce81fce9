"""`top_k` is declared once per stage (a PositiveInt parameter) and refused when the YAML loads;
a per-call value (RAG.query, the CLI's --top-k, the LangChain retriever) goes through
`check_top_k`, which refuses exactly what the parameter refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.component import check_top_k
from ragloom.errors import ComponentConfigError, ConfigError
from ragloom.pipeline import Pipeline
from ragloom.rag import RAG

STAGES_WITH_TOP_K = {
    "bm25_retriever": "",
    "chroma_retriever": "",
    "rrf_fusion": "",
    "score_fusion": "",
    "cross_encoder_reranker": "model: minilm-reranker, ",
}
BAD = [("0", "Input should be greater than 0 (got 0)")]
BAD += [("-1", "Input should be greater than 0 (got -1)")]
BAD += [("'5'", "Input should be a valid integer (got '5')")]


@pytest.mark.parametrize("value,reason", BAD)
@pytest.mark.parametrize("stage", sorted(STAGES_WITH_TOP_K))
def test_a_bad_top_k_is_refused_when_the_yaml_loads(
    tmp_path: Path, stage: str, value: str, reason: str
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "components:\n"
        "  stage:\n"
        f"    type: {stage}\n"
        f"    init_parameters: {{{STAGES_WITH_TOP_K[stage]}top_k: {value}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        Pipeline.from_yaml(path)
    [problem] = [p for p in info.value.problems if p.field == "top_k"]
    assert str(problem) == f"{path}:4: component 'stage' ({stage}): parameter 'top_k': {reason}"
    assert problem.component == "stage"


@pytest.mark.parametrize("value", [0, -1, "5", True, 1.0, None])
def test_check_top_k_refuses_what_the_parameter_refuses(value: Any) -> None:
    with pytest.raises(ComponentConfigError, match=r"^caller: parameter 'top_k': Input should"):
        check_top_k(value, "caller")
    with pytest.raises(ConfigError, match=r"parameter 'top_k': Input should"):
        Pipeline.from_dict(
            {"components": {"f": {"type": "rrf_fusion", "init_parameters": {"top_k": value}}}}
        )
    assert check_top_k(3, "caller") == 3


def test_rag_query_refuses_a_bad_top_k_before_anything_runs(tmp_path: Path) -> None:
    rag = RAG(index_dir=tmp_path / "no-index")  # checked before the index is even looked for
    with pytest.raises(ConfigError, match=r"^query: parameter 'top_k': Input should be greater"):
        rag.query("tides", top_k=0)
    with pytest.raises(ConfigError, match=r"^query: parameter 'top_k': Input should be a valid"):
        next(iter(rag.stream("tides", top_k="2")))  # type: ignore[arg-type]


def test_cli_top_k_goes_through_the_same_check(tmp_path: Path) -> None:
    args = ["query", "tides", "--top-k", "0", "--index-dir", str(tmp_path / "no-index")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "error: query: parameter 'top_k': Input should be greater than 0 (got 0)" in (
        result.output
    )
