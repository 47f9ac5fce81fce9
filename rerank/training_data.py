"""Training data for a cross-encoder: (query, positive, negatives) groups, with mined negatives.

Two sources:

- a BEIR folder with a training split (`qrels/train.tsv`): every judged-relevant document is a
  positive; negatives are mined from the corpus;
- a JSONL file of `{"query": ..., "positive": ..., "negatives": [...]}` (negatives optional:
  missing ones are mined from every passage the file mentions).

Hard negatives come from ragloom's own retrievers (BM25, dense, or both fused by RRF): the
highest-ranked passages that are not judged relevant, which is what a reranker must learn to
push down. Sampling among the top `mine_depth` (not always the very top) avoids training on
unjudged positives only.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ragloom.errors import ConfigError
from ragloom.evaluation.beir import load_split
from ragloom.jsonl import get_field, read_jsonl
from ragloom.loaders.files import load_beir_corpus
from ragloom.retrievers.score_fusion import fuse_rankings

Miner = Literal["bm25", "dense", "hybrid"]
#: Ranks a query against the corpus: the corpus indices of the best `depth` entries, best first.
Ranker = Callable[[str, int], list[int]]


@dataclass
class TrainingGroup:
    """One query with one relevant passage and the passages to rank below it."""

    query: str
    positive: str
    negatives: list[str] = field(default_factory=list)


@dataclass
class TrainingSet:
    """Groups to train on, plus the corpus and the relevant passages per query for mining."""

    groups: list[TrainingGroup]
    corpus: list[str]
    relevant: dict[str, set[int]]  # query -> corpus indices judged relevant (never negatives)


def beir_training_set(folder: str | Path, split: str = "train") -> TrainingSet:
    """Every judged-relevant (query, document) pair of a BEIR split; negatives still to mine."""
    queries, qrels = load_split(folder, split)
    documents = load_beir_corpus(Path(folder) / "corpus.jsonl")
    position = {doc.id: i for i, doc in enumerate(documents)}
    corpus = [doc.text for doc in documents]
    groups: list[TrainingGroup] = []
    relevant: dict[str, set[int]] = {}
    for qid, judged in qrels.items():
        query = queries[qid]
        hits = {position[d] for d, score in judged.items() if score > 0 and d in position}
        relevant[query] = relevant.get(query, set()) | hits
        groups.extend(TrainingGroup(query, corpus[i]) for i in sorted(hits))
    if not groups:
        raise ConfigError(f"{folder}: split {split!r} has no relevant (score > 0) judgements")
    return TrainingSet(groups, corpus, relevant)


def jsonl_training_set(path: str | Path) -> TrainingSet:
    """Groups from a JSONL of {query, positive, negatives?}; errors name the line and field."""
    groups: list[TrainingGroup] = []
    passages: dict[str, int] = {}
    for _, where, record in read_jsonl(path):
        query = get_field(record, "query", "text", where)
        positive = get_field(record, "positive", "text", where)
        negatives = get_field(record, "negatives", "texts", where, default=[])
        groups.append(TrainingGroup(query, positive, list(negatives)))
        for text in (positive, *negatives):
            passages.setdefault(text, len(passages))
    if not groups:
        raise ConfigError(f"{path}: no training pairs")
    relevant: dict[str, set[int]] = {}
    for group in groups:
        relevant.setdefault(group.query, set()).add(passages[group.positive])
    return TrainingSet(groups, list(passages), relevant)


def mine_negatives(
    data: TrainingSet,
    rank: Ranker,
    *,
    negatives: int = 7,
    mine_depth: int = 30,
    seed: int = 0,
) -> list[TrainingGroup]:
    """Groups with `negatives` hard negatives each, sampled from the best `mine_depth` hits
    that are not judged relevant; negatives a group already has are kept and count.

    A query's hits are computed once, whatever the number of its positives.
    """
    rng = random.Random(seed)
    lookup = {text: i for i, text in enumerate(data.corpus)}
    ranked: dict[str, list[int]] = {}
    mined = []
    for group in data.groups:
        missing = negatives - len(group.negatives)
        if missing <= 0:
            mined.append(TrainingGroup(group.query, group.positive, group.negatives[:negatives]))
            continue
        if group.query not in ranked:
            ranked[group.query] = rank(group.query, mine_depth + len(data.relevant[group.query]))
        exclude = data.relevant[group.query]
        pool = [i for i in ranked[group.query] if i not in exclude][:mine_depth]
        taken = {lookup[n] for n in group.negatives if n in lookup}
        pool = [i for i in pool if i not in taken]
        picked = rng.sample(pool, min(missing, len(pool)))
        if len(picked) < missing:  # too few hits: fill with random non-relevant passages
            others = [i for i in range(len(data.corpus)) if i not in exclude and i not in taken]
            others = [i for i in others if i not in picked]
            picked += rng.sample(others, min(missing - len(picked), len(others)))
        mined.append(
            TrainingGroup(
                group.query, group.positive, group.negatives + [data.corpus[i] for i in picked]
            )
        )
    return mined


def bm25_ranker(corpus: Sequence[str]) -> Ranker:
    """Ranks the corpus by ragloom's BM25 (the index tokenizer and default backend)."""
    from ragloom.retrievers.bm25_scoring import (
        DEFAULT_BACKEND,
        build_scorer,
        tokenize,
        top_positive,
    )

    scorer = build_scorer(DEFAULT_BACKEND, [tokenize(text) for text in corpus])
    keys = [f"{i:09d}" for i in range(len(corpus))]

    def rank(query: str, depth: int) -> list[int]:
        tokens = tokenize(query)
        if not tokens:
            return []
        return top_positive(scorer.scores(tokens), keys, depth, scorer.matches(tokens))

    return rank


def dense_ranker(corpus: Sequence[str], model: str = "minilm", batch_size: int = 32) -> Ranker:
    """Ranks the corpus by cosine similarity of the bundled (or given) encoder's embeddings."""
    from ragloom.chunking.text_encoder import load_encoder
    from ragloom.progress import progress_bar

    encoder = load_encoder(model)
    with progress_bar(total=len(corpus), desc="encoding corpus for mining", unit="doc") as bar:
        vectors = encoder.encode(list(corpus), batch_size=batch_size, progress=bar)

    def rank(query: str, depth: int) -> list[int]:
        scores = vectors @ encoder.encode([query])[0]
        top = np.argsort(-scores, kind="stable")[:depth]
        return [int(i) for i in top]

    return rank


def hybrid_ranker(corpus: Sequence[str], model: str = "minilm") -> Ranker:
    """BM25 and dense rankings fused by reciprocal rank (k=60)."""
    sparse, dense = bm25_ranker(corpus), dense_ranker(corpus, model)

    def rank(query: str, depth: int) -> list[int]:
        return fuse_rankings([sparse(query, depth), dense(query, depth)], k=60)[:depth]

    return rank


def make_ranker(miner: Miner, corpus: Sequence[str], model: str = "minilm") -> Ranker:
    """The negative miner of that name over the corpus."""
    if miner == "bm25":
        return bm25_ranker(corpus)
    if miner == "dense":
        return dense_ranker(corpus, model)
    if miner == "hybrid":
        return hybrid_ranker(corpus, model)
    raise ConfigError(f"unknown negative miner {miner!r}; valid: bm25, dense, hybrid")
