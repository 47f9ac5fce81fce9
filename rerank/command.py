"""The `ragloom train-reranker` command: fine-tune a cross-encoder for the reranker stage.

ragloom train-reranker --data ../shared/datasets/scifact --output models/scifact-reranker \
    --holdout 0.25
ragloom train-reranker --data pairs.jsonl --output models/my-reranker --epochs 2 --miner bm25
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ragloom.cli_support import friendly_errors, quiet_libraries
from ragloom.models import DEFAULT_ENCODER


def train_reranker_command(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="BEIR folder with a training split, or a JSONL of "
            '{"query", "positive", "negatives"?} records.',
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write the trained model to.")
    ],
    base_model: Annotated[
        str,
        typer.Option(help="Encoder checkpoint to start from: bundled alias, folder or hub id."),
    ] = DEFAULT_ENCODER,
    split: Annotated[str, typer.Option(help="Qrels split of a BEIR folder to train on.")] = "train",
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the training groups.")] = 3.0,
    queries_per_step: Annotated[
        int, typer.Option(min=1, help="Query groups per optimiser step.")
    ] = 4,
    negatives: Annotated[int, typer.Option(min=1, help="Hard negatives per positive.")] = 7,
    miner: Annotated[
        str, typer.Option(help="Where hard negatives come from: bm25, dense or hybrid.")
    ] = "hybrid",
    mine_depth: Annotated[
        int, typer.Option(min=1, help="Sample negatives from this many top hits.")
    ] = 30,
    max_length: Annotated[int, typer.Option(min=8, help="Tokens per (query, passage) pair.")] = 256,
    learning_rate: Annotated[
        float, typer.Option(min=0.0, help="Peak AdamW learning rate of the pretrained encoder.")
    ] = 5e-5,
    head_learning_rate: Annotated[
        float, typer.Option(min=0.0, help="Peak learning rate of the new classification head.")
    ] = 1e-3,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many steps (overrides --epochs).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling and initialisation.")] = 0,
    holdout: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.99,
            help="Fraction of queries kept out of training (listed in ragloom_reranker.json) "
            "for tuning retrieval_weight on unseen queries.",
        ),
    ] = 0.0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the training report as one JSON line.")
    ] = False,
) -> None:
    """Fine-tune a cross-encoder reranker on labelled pairs, mining hard negatives with
    ragloom's own retrievers; the result loads in the cross_encoder_reranker stage."""
    from ragloom.rerank.training import CARD_FILE, TrainingOptions, train_reranker

    quiet_libraries()
    with friendly_errors():
        options = TrainingOptions(
            base_model=base_model,
            epochs=epochs,
            queries_per_step=queries_per_step,
            negatives=negatives,
            mine_depth=mine_depth,
            miner=miner,  # type: ignore[arg-type]  # checked by make_ranker
            max_length=max_length,
            learning_rate=learning_rate,
            head_learning_rate=head_learning_rate,
            max_steps=max_steps,
            split=split,
            seed=seed,
            holdout=holdout,
        )
        report = train_reranker(data, output, options, overwrite=overwrite)
        if as_json:
            typer.echo(json.dumps(asdict(report)))
            return
        typer.echo(
            f"trained {report.output} from {report.base_model}: {report.groups} groups, "
            f"{report.steps} steps, {report.pairs_seen} pairs, final loss {report.final_loss:.3f}"
        )
        if report.held_out_queries:
            typer.echo(f"  {len(report.held_out_queries)} queries held out (see {CARD_FILE})")
        typer.echo(
            f"  mining {report.mining_seconds:.1f} s, training {report.training_seconds:.1f} s"
        )
        typer.echo(
            f"  use it: {{type: cross_encoder_reranker, init_parameters: {{model: {output}}}}}"
        )
