"""Evaluate a RAG configuration on a BEIR dataset: index (or reuse), rank every query, score.

Only the ranking part of the query pipeline runs (the stages the `hits` output depends on: no
answerer or generator). Every stage with a `top_k` is asked for at least `depth` chunk hits,
chunk hits collapse to documents (a document scores its best chunk), and trec_eval scores the
document ranking. Queries run `batch_size` at a time through `ragloom.pipeline.batched`
(query encoders, rerankers and other batch-capable stages once per batch); the rankings are
those of one query at a time.

Example::

    from ragloom.config import load_config
    from ragloom.evaluation.runner import evaluate_beir

    report = evaluate_beir(load_config("examples/bm25.yaml"), "../shared/datasets/scifact")
    print(report.metrics["ndcg@10"])
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragloom.config import RagConfig
from ragloom.errors import ConfigError
from ragloom.evaluation.beir import check_beir_dir, load_split
from ragloom.evaluation.metrics import document_run, evaluate
from ragloom.indexing.journal import read_documents
from ragloom.loaders.files import load_beir_corpus
from ragloom.manifest import check_encoder, read_manifest
from ragloom.pipeline.batched import run_many
from ragloom.pipeline.graph import Address, Pipeline
from ragloom.progress import progress_bar
from ragloom.rag import RAG

#: Documents kept per query: the deepest cutoff of the reported metrics (Recall@100).
RUN_DEPTH = 100
EVAL_ROOT = Path(".ragloom") / "eval"
#: Queries `ragloom eval` runs together by default.
DEFAULT_BATCH = 32


@dataclass
class EvalReport:
    """Metric means over the judged queries of one split, with index and query timings."""

    dataset: str
    split: str
    queries: int
    metrics: dict[str, float]
    index_dir: str
    index_reused: bool
    documents: int
    chunks: dict[str, int]
    index_seconds: float
    query_seconds: float
    query_ms: list[float] = field(default_factory=list, repr=False)
    depth: int = 1000
    #: Queries run together; each query's `query_ms` is then its batch's time / its size.
    batch_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The `ragloom eval --json` object: metric names are top-level keys."""
        return {
            **{name: round(value, 6) for name, value in self.metrics.items()},
            "dataset": self.dataset,
            "split": self.split,
            "queries": self.queries,
            "documents": self.documents,
            "chunks": self.chunks,
            "depth": self.depth,
            "batch_size": self.batch_size,
            "index_dir": self.index_dir,
            "index_reused": self.index_reused,
            "index_seconds": round(self.index_seconds, 3),
            "query_seconds": round(self.query_seconds, 3),
            "query_ms_mean": round(statistics.fmean(self.query_ms), 3) if self.query_ms else 0.0,
            "query_ms_p50": round(statistics.median(self.query_ms), 3) if self.query_ms else 0.0,
            "query_ms_p95": round(_percentile(self.query_ms, 95), 3) if self.query_ms else 0.0,
        }


def _percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ranking_pipeline(query: Pipeline, hits: str | None = None) -> Pipeline:
    """The part of a query pipeline that the `hits` output depends on, or that another
    `component.socket` depends on (`hits`), which then becomes the `hits` output."""
    if hits is not None:
        target = Address.parse(hits)
    elif "hits" in query.outputs:
        target = query.outputs["hits"]
    else:
        raise ConfigError("the query pipeline must declare the output `hits`")
    keep = {target.component}
    frontier = [target.component]
    while frontier:
        for sender in query.predecessors(frontier.pop()):
            if sender not in keep:
                keep.add(sender)
                frontier.append(sender)
    sub = Pipeline(index_dir=query.index_dir, executor=query.executor)
    for name, component in query.components.items():
        if name in keep:
            sub.add(name, component, optional=name in query.optional)
    for conn in query.connections:
        if conn.sender.component in keep and conn.receiver.component in keep:
            sub.connect(str(conn.sender), str(conn.receiver))
    for name, targets in query.inputs.items():
        kept = [str(addr) for addr in targets if addr.component in keep]
        if kept:
            sub.add_input(name, *kept)
    sub.add_output("hits", str(target))
    return sub


def deepen(pipeline: Pipeline, depth: int) -> None:
    """Ask every stage with an integer `top_k` for at least `depth` hits."""
    for component in pipeline.components.values():
        top_k = getattr(component, "top_k", None)
        if isinstance(top_k, int) and not isinstance(top_k, bool) and top_k < depth:
            component.top_k = depth  # type: ignore[attr-defined]


def _pipeline_key(pipeline_dict: Any) -> Any:
    """An indexing pipeline's identity: its JSON form as this release builds it (a setting
    added since the index was written takes its default, e.g. an encoder's `backend`), without
    the index directory and without settings left at None (so an index built before a release
    added an optional setting, such as a Chroma stage's `server`, is still recognised)."""
    with contextlib.suppress(Exception):  # a stage or setting gone since: compare as written
        pipeline_dict = Pipeline.from_dict(pipeline_dict).to_dict()
    data = json.loads(json.dumps(pipeline_dict or {}, sort_keys=True, default=str))
    data.pop("index_dir", None)
    for component in (data.get("components") or {}).values():
        if isinstance(component, dict) and isinstance(component.get("init_parameters"), dict):
            parameters = component["init_parameters"]
            component["init_parameters"] = {k: v for k, v in parameters.items() if v is not None}
    return data


def default_index_dir(config: RagConfig, dataset: Path) -> Path:
    """`.ragloom/eval/<dataset>-<hash>`: one index per dataset and indexing pipeline."""
    key = json.dumps([_pipeline_key(config.indexing.to_dict()), str(dataset)], sort_keys=True)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return EVAL_ROOT / f"{dataset.name}-{digest}"


def ensure_index(rag: RAG, dataset: Path, log: Callable[[str], None]) -> tuple[bool, float, int]:
    """Index the corpus unless the index already holds it, built by this same pipeline.

    Returns (reused, seconds spent indexing, documents in the corpus).
    """
    expected = {doc.id: doc.hash for doc in load_beir_corpus(dataset)}
    manifest = read_manifest(rag.index_dir)
    if manifest is not None:
        wanted = _pipeline_key(rag.config.indexing.to_dict())
        if _pipeline_key(manifest.get("pipeline")) != wanted:
            raise ConfigError(
                f"{rag.index_dir} holds an index built by another indexing pipeline; pass a new "
                f"--index-dir (or none: eval then keeps one index per configuration)"
            )
        documents, pending = read_documents(rag.index_dir)
        if documents == expected and not pending:
            log(f"reusing the up-to-date index in {rag.index_dir}")
            return True, 0.0, len(expected)
    log(f"indexing {len(expected)} documents of {dataset} into {rag.index_dir}")
    start = time.perf_counter()
    rag.index([dataset])
    return False, time.perf_counter() - start, len(expected)


def evaluate_beir(
    config: RagConfig,
    dataset: str | Path,
    *,
    split: str = "test",
    index_dir: str | Path | None = None,
    limit_queries: int | None = None,
    depth: int = 1000,
    batch_size: int = DEFAULT_BATCH,
    log: Callable[[str], None] = lambda message: None,
) -> EvalReport:
    """Index `dataset` with the config's indexing pipeline and score its query pipeline,
    `batch_size` queries at a time."""
    if depth < RUN_DEPTH:
        raise ConfigError(f"depth must be at least {RUN_DEPTH} (Recall@{RUN_DEPTH}), got {depth}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    folder = check_beir_dir(dataset).resolve()
    queries, qrels = load_split(folder, split, limit_queries)
    if not queries:
        raise ConfigError(f"{folder}: split {split!r} has no judged queries")
    rag = RAG(config, index_dir if index_dir is not None else default_index_dir(config, folder))
    reused, index_seconds, documents = ensure_index(rag, folder, log)
    check_encoder(rag.index_dir, read_manifest(rag.index_dir), config.encoder_settings())
    ranking = ranking_pipeline(config.query)
    deepen(ranking, depth)
    ranking.warm_up()
    run: dict[str, dict[str, float]] = {}
    query_ms: list[float] = []
    items = list(queries.items())
    extra: dict[str, Any] = {"top_k": depth} if "top_k" in ranking.inputs else {}
    start = time.perf_counter()
    with progress_bar(total=len(queries), desc="querying", unit="query") as bar:
        for first in range(0, len(items), batch_size):
            batch = items[first : first + batch_size]
            began = time.perf_counter()
            outcomes = run_many(ranking, [{"query": text, **extra} for _, text in batch])
            each_ms = (time.perf_counter() - began) * 1000 / len(batch)
            for (qid, _), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    raise outcome
                run[qid] = document_run(outcome["hits"], RUN_DEPTH)
                query_ms.append(each_ms)
            bar.update(len(batch))
    query_seconds = time.perf_counter() - start
    return EvalReport(
        dataset=str(folder),
        split=split,
        queries=len(queries),
        metrics=evaluate(qrels, run),
        index_dir=str(rag.index_dir),
        index_reused=reused,
        documents=documents,
        chunks=rag.chunk_counts(),
        index_seconds=index_seconds,
        query_seconds=query_seconds,
        query_ms=query_ms,
        depth=depth,
        batch_size=batch_size,
    )
