"""Fine-tune a cross-encoder on (query, positive, hard negatives) groups.

The model is any encoder checkpoint with a fresh one-logit classification head
(`AutoModelForSequenceClassification`, default: the bundled all-MiniLM-L6-v2). Each group is
scored together and trained with a listwise softmax cross-entropy (the positive must outscore
its negatives), the usual objective for rerankers. The result is a standard Hugging Face model
folder that `cross_encoder_reranker` (or any transformers user) loads; it is written to a
temporary sibling folder and renamed into place, so a crash never leaves half a model.

Example::

    from ragloom.rerank.training import TrainingOptions, train_reranker
    report = train_reranker("../shared/datasets/scifact", "models/scifact-reranker")
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

from ragloom.atomic import publish_dir
from ragloom.errors import ConfigError
from ragloom.models import DEFAULT_ENCODER, load_pretrained
from ragloom.progress import progress_bar
from ragloom.rerank.training_data import (
    Miner,
    TrainingGroup,
    TrainingSet,
    beir_training_set,
    jsonl_training_set,
    make_ranker,
    mine_negatives,
)

CARD_FILE = "ragloom_reranker.json"


@dataclass
class TrainingOptions:
    """Training settings; the defaults train on SciFact's train split in under an hour on two
    CPU cores (measured with holdout 0.25: 7 min mining + 25 min training; benchmarks/README.md)."""

    base_model: str = DEFAULT_ENCODER
    epochs: float = 3.0
    queries_per_step: int = 4
    negatives: int = 7
    mine_depth: int = 30
    miner: Miner = "hybrid"
    max_length: int = 256
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_steps: int | None = None
    split: str = "train"
    seed: int = 0
    #: Fraction of the queries kept out of training (chosen by `seed`, listed in the report) to
    #: tune settings such as the reranker's `retrieval_weight` on queries it has not seen.
    holdout: float = 0.0

    def check(self) -> None:
        """Raise a ConfigError naming the first out-of-range setting."""
        positive = ("queries_per_step", "negatives", "mine_depth", "max_length")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than 0, got {getattr(self, name)}")
        if self.epochs <= 0:
            raise ConfigError(f"epochs must be greater than 0, got {self.epochs}")
        for name in ("learning_rate", "head_learning_rate"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than 0, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.miner not in get_args(Miner):
            raise ConfigError(
                f"miner must be one of {', '.join(get_args(Miner))}, got {self.miner!r}"
            )
        if not 0 <= self.holdout < 1:
            raise ConfigError(f"holdout must be in [0, 1), got {self.holdout}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"max_steps must be greater than 0, got {self.max_steps}")


@dataclass
class TrainingReport:
    """What a training run did, also saved as `ragloom_reranker.json` in the model folder."""

    output: str
    base_model: str
    data: str
    groups: int
    steps: int
    pairs_seen: int
    final_loss: float
    mining_seconds: float
    training_seconds: float
    options: dict[str, Any]
    held_out_queries: list[str] = field(default_factory=list)


def load_training_set(data: str | Path, split: str = "train") -> TrainingSet:
    """A BEIR folder (its `split` judgements) or a JSONL file of training pairs."""
    path = Path(data)
    if path.is_dir():
        return beir_training_set(path, split)
    if path.is_file():
        return jsonl_training_set(path)
    raise ConfigError(f"{path}: no such BEIR folder or JSONL file of training pairs")


def train_reranker(
    data: str | Path,
    output: str | Path,
    options: TrainingOptions | None = None,
    *,
    overwrite: bool = False,
) -> TrainingReport:
    """Train a cross-encoder on `data` and save it to `output`; returns what was done."""
    options = options or TrainingOptions()
    options.check()
    out = Path(output)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: already exists and is not empty (pass overwrite=True)")
    started = time.perf_counter()
    training_set, held_out = hold_out(
        load_training_set(data, options.split), options.holdout, options.seed
    )
    ranker = make_ranker(options.miner, training_set.corpus, options.base_model)
    groups = mine_negatives(
        training_set,
        ranker,
        negatives=options.negatives,
        mine_depth=options.mine_depth,
        seed=options.seed,
    )
    mining_seconds = time.perf_counter() - started
    model, tokenizer = _fresh_cross_encoder(options.base_model)
    started = time.perf_counter()
    steps, pairs, loss = _fit(model, tokenizer, groups, options)
    report = TrainingReport(
        output=str(out),
        base_model=options.base_model,
        data=str(data),
        groups=len(groups),
        steps=steps,
        pairs_seen=pairs,
        final_loss=loss,
        mining_seconds=round(mining_seconds, 2),
        training_seconds=round(time.perf_counter() - started, 2),
        options=asdict(options),
        held_out_queries=held_out,
    )
    _save(model, tokenizer, out, report)
    return report


def hold_out(
    training_set: TrainingSet, fraction: float, seed: int
) -> tuple[TrainingSet, list[str]]:
    """The training set without a random `fraction` of its queries, and those queries (sorted).

    Every group of a held-out query leaves together, so none of its pairs is trained on.
    """
    if fraction <= 0:
        return training_set, []
    queries = sorted({g.query for g in training_set.groups})
    count = round(len(queries) * fraction)
    if not 0 < count < len(queries):
        raise ConfigError(
            f"holdout {fraction} of {len(queries)} queries leaves nothing to train on or to "
            "hold out; use a fraction between them"
        )
    held = set(random.Random(seed).sample(queries, count))
    kept = [g for g in training_set.groups if g.query not in held]
    return replace(training_set, groups=kept), sorted(held)


def _fresh_cross_encoder(base_model: str) -> tuple[Any, Any]:
    """The base checkpoint with a new one-logit head, in fp32 for training."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized head" is the point here, not a warning
    try:
        tokenizer, model = load_pretrained(
            base_model, AutoModelForSequenceClassification, torch.float32, num_labels=1
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    return model, tokenizer


def _fit(
    model: Any, tokenizer: Any, groups: list[TrainingGroup], options: TrainingOptions
) -> tuple[int, int, float]:
    """Listwise training; returns (steps, pairs seen, mean loss of the last 20 steps)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    per_epoch = -(-len(groups) // options.queries_per_step)
    total = options.max_steps or max(1, round(per_epoch * options.epochs))
    optimizer = torch.optim.AdamW(
        _parameter_groups(model, options), weight_decay=options.weight_decay
    )
    schedule = get_linear_schedule_with_warmup(optimizer, int(total * options.warmup_ratio), total)
    model.train()
    order: list[TrainingGroup] = []
    losses: list[float] = []
    pairs = 0
    with progress_bar(total=total, desc="training reranker", unit="step") as bar:
        for _ in range(total):
            if len(order) < options.queries_per_step:
                refill = list(groups)
                rng.shuffle(refill)
                order += refill
            batch, order = order[: options.queries_per_step], order[options.queries_per_step :]
            loss = _group_loss(model, tokenizer, batch, options.max_length)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            pairs += sum(1 + len(g.negatives) for g in batch)
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    model.eval()
    return total, pairs, sum(losses[-20:]) / len(losses[-20:])


def _parameter_groups(model: Any, options: TrainingOptions) -> list[dict[str, Any]]:
    """The new head (classifier, and the pooler feeding it) learns at `head_learning_rate`, the
    pretrained encoder at `learning_rate`: a randomly initialised head at the encoder's small
    rate barely moves in the few hundred steps a small training set gives."""
    head: list[Any] = []
    body: list[Any] = []
    for name, parameter in model.named_parameters():
        is_head = name.startswith(("classifier", "pooler", "score")) or ".pooler." in name
        (head if is_head else body).append(parameter)
    return [
        {"params": body, "lr": options.learning_rate},
        {"params": head, "lr": options.head_learning_rate},
    ]


def _group_loss(model: Any, tokenizer: Any, batch: list[TrainingGroup], max_length: int) -> Any:
    """Mean softmax cross-entropy of each group's positive (index 0) against its negatives."""
    import torch

    queries, passages, sizes = [], [], []
    for group in batch:
        candidates = [group.positive, *group.negatives]
        queries += [group.query] * len(candidates)
        passages += candidates
        sizes.append(len(candidates))
    encoded = tokenizer(
        queries,
        passages,
        padding=True,
        truncation="longest_first",
        max_length=max_length,
        return_tensors="pt",
    )
    logits = model(**encoded).logits[:, 0]
    losses = []
    for scores in torch.split(logits, sizes):
        losses.append(-torch.log_softmax(scores, dim=0)[0])
    return torch.stack(losses).mean()


def _save(model: Any, tokenizer: Any, out: Path, report: TrainingReport) -> None:
    """Write the model folder next to `out`, then swap it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / CARD_FILE).write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        publish_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
