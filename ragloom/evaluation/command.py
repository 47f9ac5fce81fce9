"""The `ragloom eval` command: retrieval quality and timings of a configuration on BEIR data.

ragloom eval -c examples/bm25.yaml --beir ../shared/datasets/scifact
ragloom eval --beir ../shared/datasets/scifact --split train --limit-queries 50 --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ragloom.cli_support import ConfigOption, friendly_errors, quiet_libraries
from ragloom.config import RagConfig
from ragloom.evaluation.metrics import METRICS
from ragloom.evaluation.runner import DEFAULT_BATCH, EvalReport

BeirOption = Annotated[
    Path | None,
    typer.Option(
        "--beir", help="BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."
    ),
]
QAOption = Annotated[
    Path | None,
    typer.Option(
        "--qa",
        help="JSONL of {question, answers}: score generated answers (exact match, F1, "
        "citation precision) with the full query pipeline.",
    ),
]
CorpusOption = Annotated[
    list[Path] | None,
    typer.Option("--corpus", help="Files or folders to index before answering --qa questions."),
]
SplitOption = Annotated[str, typer.Option("--split", help="Which qrels split to score.")]
IndexDirOption = Annotated[
    Path | None,
    typer.Option(
        "--index-dir",
        help="Index directory (default: .ragloom/eval/<dataset>-<hash of the indexing pipeline>).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object as the last line of stdout.")
]
LimitOption = Annotated[
    int | None, typer.Option("--limit-queries", min=1, help="Score only the first N queries.")
]
DepthOption = Annotated[
    int,
    typer.Option("--depth", min=100, help="Chunk hits asked of every stage that has a top_k."),
]
BatchOption = Annotated[
    int,
    typer.Option(
        "--batch-size",
        min=1,
        help="Queries run together (query encoder and reranker once per batch; same rankings "
        "as one at a time). Per-query times are then a batch's time / its size.",
    ),
]


def eval_command(
    beir: BeirOption = None,
    qa: QAOption = None,
    corpus: CorpusOption = None,
    config: ConfigOption = None,
    split: SplitOption = "test",
    index_dir: IndexDirOption = None,
    as_json: JsonOption = False,
    limit_queries: LimitOption = None,
    depth: DepthOption = 1000,
    batch_size: BatchOption = DEFAULT_BATCH,
) -> None:
    """Retrieval quality on BEIR data (nDCG@10, Recall@10/100, MRR@10) and/or answer quality
    on a QA set (exact match, token F1, citation precision), with timings."""
    from ragloom.config import default_config, load_config
    from ragloom.errors import ConfigError

    quiet_libraries()
    with friendly_errors():
        if beir is None and qa is None:
            raise ConfigError("give --beir DIR (retrieval metrics) and/or --qa FILE (answers)")
        rag_config = load_config(config) if config else default_config()
        result: dict[str, object] = {"config": str(config) if config else "<built-in default>"}
        qa_index = index_dir
        if beir is not None:
            report = _retrieval(
                rag_config, beir, split, index_dir, limit_queries, depth, batch_size, as_json
            )
            result.update(report.to_dict())
            qa_index = index_dir or Path(report.index_dir)
        if qa is not None:
            result.update(_answers(rag_config, qa, corpus, qa_index, limit_queries, as_json))
        if as_json:
            typer.echo(json.dumps(result))


def _answers(
    rag_config: RagConfig,
    qa: Path,
    corpus: list[Path] | None,
    index_dir: Path | None,
    limit: int | None,
    as_json: bool,
) -> dict[str, object]:
    """Answer-quality metrics over a QA file, printed unless `as_json`."""
    from ragloom.evaluation.answers import evaluate_qa_file
    from ragloom.rag import RAG

    rag = RAG(rag_config, index_dir)
    report = evaluate_qa_file(
        rag, qa, corpus, limit, log=lambda message: typer.echo(message, err=True)
    )
    metrics = {
        f"qa_{key}" if key == "questions" else key: value for key, value in report.to_dict().items()
    }
    if not as_json:
        precision = report.citation_precision
        shown = "n/a (nothing cited)" if precision is None else f"{precision:.4f}"
        typer.echo(f"answers to {qa} ({report.questions} questions, index {rag.index_dir})")
        typer.echo(f"  exact_match {report.exact_match:.4f}")
        typer.echo(f"  f1          {report.f1:.4f}")
        typer.echo(f"  citation_precision {shown} (cited in {report.cited_share:.0%})")
        typer.echo(f"  {report.seconds_per_question:.2f} s/question")
    return metrics


def _retrieval(
    rag_config: RagConfig,
    beir: Path,
    split: str,
    index_dir: Path | None,
    limit_queries: int | None,
    depth: int,
    batch_size: int,
    as_json: bool,
) -> EvalReport:
    """Retrieval metrics on a BEIR split, printed unless `as_json`."""
    from ragloom.evaluation.runner import evaluate_beir

    report = evaluate_beir(
        rag_config,
        beir,
        split=split,
        index_dir=index_dir,
        limit_queries=limit_queries,
        depth=depth,
        batch_size=batch_size,
        log=lambda message: typer.echo(message, err=True),
    )
    if as_json:
        return report
    typer.echo(f"{report.dataset} ({split}, {report.queries} queries)")
    for name in METRICS:
        typer.echo(f"  {name:<11} {report.metrics[name]:.4f}")
    index = "reused" if report.index_reused else f"{report.index_seconds:.1f} s"
    times = report.to_dict()
    typer.echo(
        f"  index: {index} ({report.documents} documents, {report.index_dir}); "
        f"queries: {report.query_seconds:.1f} s ({times['query_ms_mean']:.1f} ms/query, "
        f"p50 {times['query_ms_p50']:.1f}, p95 {times['query_ms_p95']:.1f})"
    )
    return report
