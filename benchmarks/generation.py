"""Generation benchmark: local LLM speed, context assembly cost, per-stage query latency.

Measures, for the bundled SmolLM2-135M-Instruct (or --model):
  * time to first token (TTFT) and decode speed (tokens/s) on a RAG prompt;
  * the prompt builder's cost (merge, token budget counted with the generator tokenizer, order);
  * end-to-end `RAG.query` latency of the default pipeline split per stage (median over queries).

Run:  python benchmarks/generation.py [--device cpu|cuda] [--runs 5] [--json]
The index of examples/corpus is built in a temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ragloom.generation.local import LocalChatModel
from ragloom.generation.prompt import PromptBuilder
from ragloom.rag import RAG

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "corpus"
QUESTIONS = [
    "What do k1 and b control in BM25?",
    "How does late chunking embed a chunk?",
    "What is reciprocal rank fusion?",
    "Why are rerankers applied only to the top results?",
    "What is a Ray actor?",
]


def machine() -> str:
    cpu = f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {cpu}, {gpu}, torch {torch.__version__}"


def generation_speed(llm: LocalChatModel, messages: list[dict[str, str]], runs: int) -> dict:
    """Median TTFT and decode tokens/s over `runs` greedy generations."""
    ttfts, rates, lengths = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        first = None
        pieces = []
        for piece in llm.stream(messages):
            if first is None:
                first = time.perf_counter()
            pieces.append(piece)
        end = time.perf_counter()
        tokens = llm.count_tokens("".join(pieces))
        ttfts.append((first or end) - start)
        rates.append(max(tokens - 1, 1) / max(end - (first or end), 1e-9))
        lengths.append(tokens)
    prompt_tokens = llm.count_tokens(messages[-1]["content"])
    return {
        "prompt_tokens": prompt_tokens,
        "new_tokens": statistics.median(lengths),
        "ttft_s": statistics.median(ttfts),
        "decode_tokens_per_s": statistics.median(rates),
    }


def context_cost(rag: RAG, runs: int) -> dict:
    """Median prompt-builder time with a 1,024-token budget over 20 retrieved hits."""
    builder = PromptBuilder(max_passages=20, token_budget=1024, tokenizer="smollm2-135m-instruct")
    builder.warm_up()
    hits = rag.query(QUESTIONS[0], top_k=20).hits
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        shown = builder.run(QUESTIONS[0], hits)["hits"]
        times.append(time.perf_counter() - start)
    return {"hits_in": len(hits), "passages_out": len(shown), "seconds": statistics.median(times)}


def stage_latency(rag: RAG) -> dict[str, float]:
    """Median seconds per stage of the default query pipeline over QUESTIONS."""
    per_stage: dict[str, list[float]] = {}
    for question in QUESTIONS:
        for stage, seconds in rag.query(question).timings.items():
            per_stage.setdefault(stage, []).append(seconds)
    return {stage: statistics.median(values) for stage, values in per_stage.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    index_dir = Path(tempfile.mkdtemp()) / "index"
    rag = RAG(index_dir=index_dir)
    rag.index([CORPUS])
    llm = LocalChatModel(
        args.model, max_new_tokens=args.max_new_tokens, device=args.device, dtype=args.dtype
    )
    start = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - start
    rag.query(QUESTIONS[0])  # warm every stage once
    messages = PromptBuilder(max_passages=2).run(QUESTIONS[0], rag.query(QUESTIONS[0]).hits)[
        "messages"
    ]
    report = {
        "machine": machine(),
        "model": args.model,
        "device": llm.device,
        "load_s": load_s,
        "generation": generation_speed(llm, messages, args.runs),
        "context_assembly": context_cost(rag, args.runs * 4),
        "query_stages_s": stage_latency(rag),
    }
    if args.json:
        print(json.dumps(report))
        return
    gen, ctx = report["generation"], report["context_assembly"]
    print(f"machine: {report['machine']}")
    print(f"model: {args.model} on {llm.device}; load from cache {load_s:.2f} s\n")
    print("| prompt tokens | new tokens | TTFT (s) | decode tokens/s |")
    print("|---|---|---|---|")
    print(
        f"| {gen['prompt_tokens']} | {gen['new_tokens']:.0f} | {gen['ttft_s']:.3f} "
        f"| {gen['decode_tokens_per_s']:.1f} |\n"
    )
    print(
        f"context assembly: {ctx['hits_in']} hits -> {ctx['passages_out']} passages in "
        f"{ctx['seconds'] * 1000:.1f} ms (1,024-token budget, SmolLM2 tokenizer)\n"
    )
    print("| stage | median s |")
    print("|---|---|")
    for stage, seconds in report["query_stages_s"].items():
        print(f"| {stage} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
