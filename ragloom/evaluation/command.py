"""The `ragloom eval` command: retrieval quality and timings of a configuration on BEIR data.

ragloom eval -c examples/bm25.yaml --beir ../shared/datasets/scifact
ragloom eval --beir ../shared/datasets/scifact --split train --limit-queries 50 --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ragloom.evaluation.metrics import METRICS

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="RAG configuration YAML (default: the built-in pipeline)."),
]
BeirOption = Annotated[
    Path,
    typer.Option(
        "--beir", help="BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."
    ),
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


def eval_command(
    beir: BeirOption,
    config: ConfigOption = None,
    split: SplitOption = "test",
    index_dir: IndexDirOption = None,
    as_json: JsonOption = False,
    limit_queries: LimitOption = None,
    depth: DepthOption = 1000,
) -> None:
    """Index a BEIR corpus (or reuse its index) and report nDCG@10, Recall@10/100, MRR@10."""
    from ragloom.cli import _friendly_errors, _quiet_libraries
    from ragloom.config import default_config, load_config
    from ragloom.evaluation.runner import evaluate_beir

    _quiet_libraries()
    with _friendly_errors():
        rag_config = load_config(config) if config else default_config()
        report = evaluate_beir(
            rag_config,
            beir,
            split=split,
            index_dir=index_dir,
            limit_queries=limit_queries,
            depth=depth,
            log=lambda message: typer.echo(message, err=True),
        )
        result = {**report.to_dict(), "config": str(config) if config else "<built-in default>"}
        if as_json:
            typer.echo(json.dumps(result))
            return
        typer.echo(f"{result['config']} on {report.dataset} ({split}, {report.queries} queries)")
        for name in METRICS:
            typer.echo(f"  {name:<11} {report.metrics[name]:.4f}")
        index = "reused" if report.index_reused else f"{report.index_seconds:.1f} s"
        typer.echo(
            f"  index: {index} ({report.documents} documents, {report.index_dir}); "
            f"queries: {report.query_seconds:.1f} s ({result['query_ms_mean']:.1f} ms/query)"
        )
