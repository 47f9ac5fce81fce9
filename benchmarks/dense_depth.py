"""How many dense candidates hybrid retrieval needs: SciFact nDCG@10 of `examples/hybrid.yaml`
at several `chroma_retriever` top_k, on the train split (which chooses) and the test split.

Runs the hybrid pipeline's retrieval stages over an index built with that config (fusion asked
for 100 documents, as `ragloom eval --depth 100` does) through `RAG.query_batch`, and scores
the documents with pytrec_eval via `ragloom.evaluation.metrics`.

    python benchmarks/dense_depth.py --index-dir benchmarks/results/serve-scifact-hybrid
    python benchmarks/dense_depth.py --index-dir DIR --top-k 300 100 --splits train
    python benchmarks/dense_depth.py --index-dir DIR --compare-eager 150   # lazy == eager hits
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ragloom.stored_chunks as stored
from ragloom.evaluation.beir import load_qrels, load_queries
from ragloom.evaluation.metrics import document_run, evaluate
from ragloom.rag import RAG
from ragloom.server.retrieval import retrieval_pipeline

ROOT = Path(__file__).resolve().parent.parent


def hits_of(args: argparse.Namespace, questions: list[str]) -> list[list[tuple]]:
    """Every hit's id, text, score and per-source ranks for each question (fusion at 100)."""
    rag = RAG.from_file(args.config, index_dir=args.index_dir)
    rag.config.query = retrieval_pipeline(rag.config.query)
    for component in rag.config.query.components.values():
        if hasattr(component, "top_k"):
            component.top_k = max(component.top_k, 100)
    found = [
        [(h.chunk.id, h.chunk.text, h.score, h.source_ranks) for h in rag.query(q).hits]
        for q in questions
    ]
    rag.close()
    return found


def compare_eager(args: argparse.Namespace, queries: dict[str, str]) -> None:
    """Hits with texts read only for the kept ones against every candidate read at search
    time (ids parsed as no document's: the stores then read each row as they find it)."""
    ids = list(load_qrels(args.dataset, "test"))[: args.compare_eager]
    questions = [queries[q] for q in ids]
    lazy = hits_of(args, questions)
    parse = stored.parse_chunk_id
    stored.parse_chunk_id = lambda chunk_id: None
    try:
        eager = hits_of(args, questions)
    finally:
        stored.parse_chunk_id = parse
    same = sum(a == b for a, b in zip(lazy, eager, strict=True))
    print(f"hits identical, kept-only reads vs reads at search: {same} of {len(ids)} test claims")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True, help="built with the config")
    parser.add_argument("--config", type=Path, default=ROOT / "examples/hybrid.yaml")
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/datasets/scifact")
    parser.add_argument("--top-k", type=int, nargs="+", default=[300, 150, 100])
    parser.add_argument("--splits", nargs="+", default=["train", "test"])
    parser.add_argument("--dense-stage", default="dense", help="the chroma_retriever's name")
    parser.add_argument("--compare-eager", type=int, default=0, help="only compare N claims")
    args = parser.parse_args()

    queries = load_queries(args.dataset)
    if args.compare_eager:
        compare_eager(args, queries)
        return
    print(f"{'dense top_k':>11} {'split':6} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7}")
    for k in args.top_k:
        rag = RAG.from_file(args.config, index_dir=args.index_dir)
        rag.config.query = retrieval_pipeline(rag.config.query)
        rag.config.query.components[args.dense_stage].top_k = k  # type: ignore[attr-defined]
        for name, component in rag.config.query.components.items():
            if name != args.dense_stage and hasattr(component, "top_k"):
                component.top_k = max(component.top_k, 100)  # as `ragloom eval --depth 100`
        for split in args.splits:
            qrels = load_qrels(args.dataset, split)
            ids = [q for q in qrels if q in queries]
            start = time.perf_counter()
            results = rag.query_batch([queries[q] for q in ids])
            run = {q: document_run(r.hits) for q, r in zip(ids, results, strict=True)}
            m = evaluate(qrels, run)
            print(
                f"{k:>11} {split:6} {m['ndcg@10']:8.4f} {m['recall@10']:7.4f} "
                f"{m['recall@100']:7.4f} {m['mrr@10']:7.4f}  ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        rag.close()


if __name__ == "__main__":
    main()
