"""Load test of `ragloom serve` on loopback: throughput, latency percentiles, errors, memory.

Starts `ragloom serve` as a subprocess on 127.0.0.1 for each server variant, then fires a fixed
number of requests (bounded in count and in time) from N concurrent async clients and prints
one row per (endpoint, config, variant, clients): requests/s of answered requests, p50/p95/p99
latency, 429s, other errors, and the server's resident memory before and at the end of the row
(process tree, so Ray's workers count). Nothing here talks to any address but 127.0.0.1.

Rows (the issue's list): `/v1/retrieve` with examples/bm25.yaml and examples/hybrid.yaml over
SciFact, `/v1/chat/completions` with the default config over examples/corpus (few requests),
at 1 / 8 / 32 / 64 clients, plus an overload row (256 clients) that should get 429s, not 5xx.
Variants: the local server (one process or `--processes 2`), and Ray Serve with and without
`@serve.batch` where available.

    python benchmarks/serve_load.py                       # every row
    python benchmarks/serve_load.py --only retrieve-bm25 --clients 1,32 --requests 200
    python benchmarks/serve_load.py --variants local --out benchmarks/results/serve-load.json

Indexes are built on first use under benchmarks/results/ and reused (the hybrid SciFact index
takes about 16 minutes of MiniLM encoding on 2 cores; the BM25 one under a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from ragloom.evaluation.beir import load_qrels, load_queries

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RAGLOOM = str(Path(sys.executable).with_name("ragloom"))
HOST = "127.0.0.1"  # loopback only, by construction


@dataclass(frozen=True)
class Workload:
    """One endpoint over one config and corpus."""

    name: str
    config: Path | None  # None: the built-in default pipeline
    corpus: Path
    index_name: str
    endpoint: str
    max_requests: int | None = None  # a cap for slow workloads (the LLM)


#: Stage settings (by stage type) of variants that measure the encoder: no cache of repeated
#: questions (the load cycles through 300 questions, so a cache would answer most of them).
UNCACHED = {"query_encoder": {"cache_size": 0}}


@dataclass(frozen=True)
class Variant:
    """How the server runs: extra `serve:` settings, and stage settings by stage type, merged
    into the config."""

    name: str
    serve: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(UNCACHED))


@dataclass
class Row:
    workload: str
    variant: str
    clients: int
    sent: int
    ok: int
    rejected_429: int
    errors: int
    seconds: float
    qps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    error_samples: list[str]
    #: CPU seconds per answered request, in ms: the server's processes, and this load
    #: generator (which shares the machine's cores with them).
    server_cpu_ms: float = float("nan")
    client_cpu_ms: float = float("nan")


def workloads(dataset: Path) -> dict[str, Workload]:
    corpus = ROOT / "examples" / "corpus"
    return {
        "retrieve-bm25": Workload(
            "retrieve-bm25", ROOT / "examples/bm25.yaml", dataset, "serve-scifact-bm25", "retrieve"
        ),
        "retrieve-hybrid": Workload(
            "retrieve-hybrid",
            ROOT / "examples/hybrid.yaml",
            dataset,
            "serve-scifact-hybrid",
            "retrieve",
        ),
        "chat-default": Workload(
            "chat-default", None, corpus, "serve-corpus-default", "chat", max_requests=16
        ),
    }


VARIANTS = {
    # The local server joins concurrent query encodings into one forward pass (max_batch).
    "local": Variant("local"),
    # ... and with the query encoder's cache on (its default): a repeated question skips it.
    "local-cached": Variant("local-cached", stages={}),
    # ... and with 100 dense candidates instead of hybrid.yaml's 300 (equal SciFact train
    # nDCG@10: benchmarks/README.md, "ragloom serve under load").
    "local-dense100": Variant(
        "local-dense100", stages={**UNCACHED, "chroma_retriever": {"top_k": 100}}
    ),
    "local-unbatched": Variant("local-unbatched", {"max_batch": 1}),
    # The query encoder on one intra-op thread (`threads: 1`): the other core stays free for
    # the requests' Python work instead of both cores spinning on one small forward pass.
    "local-encoder-1thread": Variant(
        "local-encoder-1thread", stages={"query_encoder": {"cache_size": 0, "threads": 1}}
    ),
    # Two server processes (`--processes 2`): Python work (fusion, HTTP, Chroma's search,
    # which holds the GIL) on both cores; then also 100 dense candidates; the query encoder on
    # ONNX Runtime (float32: the same vectors as torch), with 300 or 100 dense candidates.
    "local-2proc": Variant("local-2proc", {"processes": 2}),
    "local-2proc-dense100": Variant(
        "local-2proc-dense100",
        {"processes": 2},
        stages={**UNCACHED, "chroma_retriever": {"top_k": 100}},
    ),
    "local-2proc-onnx": Variant(
        "local-2proc-onnx",
        {"processes": 2},
        stages={"query_encoder": {"cache_size": 0, "backend": "onnx"}},
    ),
    "local-2proc-onnx-dense100": Variant(
        "local-2proc-onnx-dense100",
        {"processes": 2},
        stages={
            "query_encoder": {"cache_size": 0, "backend": "onnx"},
            "chroma_retriever": {"top_k": 100},
        },
    ),
    # Ray Serve: an ingress plus one deployment per heavy stage, with and without @serve.batch.
    "ray": Variant("ray", {"executor": "ray"}),
    "ray-unbatched": Variant(
        "ray-unbatched", {"executor": "ray", "ray": {"batching": {"enabled": False}}}
    ),
}


def questions(dataset: Path, limit: int = 300) -> list[str]:
    """SciFact's test-split claims (the load's questions; order shuffled with a fixed seed)."""
    test_ids = load_qrels(dataset, "test")
    found = [text for qid, text in load_queries(dataset).items() if qid in test_ids]
    random.Random(13).shuffle(found)
    return found[:limit]


def env() -> dict[str, str]:
    return {
        **os.environ,
        "RAGLOOM_PROGRESS": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def ensure_index(work: Workload) -> Path:
    """The workload's index under benchmarks/results, built once with `ragloom index`."""
    index_dir = RESULTS / work.index_name
    if (index_dir / "manifest.json").exists():
        return index_dir
    command = [RAGLOOM, "index", str(work.corpus), "--index-dir", str(index_dir)]
    if work.config is not None:
        command += ["-c", str(work.config)]
    print(f"building {index_dir.name}: {' '.join(command)}", file=sys.stderr, flush=True)
    subprocess.run(command, check=True, env=env())
    return index_dir


def config_with(work: Workload, variant: Variant, scratch: Path) -> Path | None:
    """The workload's config with the variant's `serve:` and stage settings merged in (a
    config without a stage of a named type is left as it is there)."""
    if not variant.serve and not variant.stages:
        return work.config
    if work.config is None:
        from importlib import resources

        text = resources.files("ragloom.defaults").joinpath("default.yaml").read_text("utf-8")
        base = yaml.safe_load(text)
    else:
        base = yaml.safe_load(work.config.read_text(encoding="utf-8"))
    base["serve"] = {**base.get("serve", {}), **variant.serve}
    for stage in base["query"]["components"].values():
        if stage.get("type") in variant.stages:
            settings = variant.stages[stage["type"]]
            stage["init_parameters"] = {**stage.get("init_parameters", {}), **settings}
    path = scratch / f"{work.name}-{variant.name}.yaml"
    path.write_text(yaml.safe_dump(base), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    config: Path | None, index_dir: Path, max_in_flight: int, workers: int
) -> Iterator[tuple[str, psutil.Process]]:
    """`ragloom serve` on a free loopback port, ready; SIGTERM and wait afterwards."""
    port = free_port()
    command = [RAGLOOM, "serve", "--index-dir", str(index_dir), "--host", HOST]
    command += ["--port", str(port), "--max-in-flight", str(max_in_flight)]
    command += ["--workers", str(workers)]
    if config is not None:
        command += ["-c", str(config)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, env=env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield _ready(proc, log, f"http://{HOST}:{port}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ready(proc: subprocess.Popen[bytes], log: Any, base: str) -> tuple[str, psutil.Process]:
    """Wait for `/readyz` (20 answers 200 in a row, each on a new connection: with several
    server processes, each one answers some); exit with the server's log tail if it dies or
    takes too long."""
    deadline = time.monotonic() + 600
    in_a_row = 0
    while proc.poll() is None:
        with suppress(httpx.HTTPError):
            ready = httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            in_a_row = in_a_row + 1 if ready else 0
            if in_a_row >= 20:
                return base, psutil.Process(proc.pid)
            if ready:
                continue
        if time.monotonic() > deadline:
            raise SystemExit("ragloom serve was not ready within 600 s")
        time.sleep(0.5)
    log.seek(0)
    tail = log.read().decode("utf-8", "replace")[-2000:]
    raise SystemExit(f"ragloom serve exited ({proc.returncode}):\n{tail}")


def tree_cpu_s(proc: psutil.Process) -> float:
    """User + system CPU seconds of the server and its children so far."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with suppress(psutil.Error):
            times = p.cpu_times()
            total += times.user + times.system
    return total


def tree_rss_mb(proc: psutil.Process) -> float:
    """Resident memory of the server and its children (Ray's workers), in MB."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 1e6


def request_body(work: Workload, question: str) -> tuple[str, dict[str, Any]]:
    if work.endpoint == "chat":
        body = {"model": "ragloom", "messages": [{"role": "user", "content": question}]}
        return "/v1/chat/completions", body
    return "/v1/retrieve", {"query": question, "top_k": 10}


async def fire(
    base: str,
    work: Workload,
    qs: list[str],
    clients: int,
    requests: int,
    time_limit: float,
    proc: psutil.Process,
) -> Row:
    """`requests` requests from `clients` concurrent clients, stopping at `time_limit` s."""
    latencies: list[float] = []
    statuses: dict[str, int] = {"ok": 0, "429": 0, "error": 0}
    samples: list[str] = []
    counter = iter(range(requests))
    rss_before = tree_rss_mb(proc)
    peak = rss_before
    server_cpu, client_cpu = tree_cpu_s(proc), time.process_time()
    start = time.perf_counter()
    deadline = start + time_limit
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        for n in counter:
            if time.perf_counter() > deadline:
                return
            path, body = request_body(work, qs[n % len(qs)])
            t0 = time.perf_counter()
            try:
                response = await http.post(path, json=body)
                code = response.status_code
                text = response.text if code != 200 else ""
            except httpx.HTTPError as exc:
                code, text = -1, f"{type(exc).__name__}: {exc}"
            if code == 200:
                statuses["ok"] += 1
                latencies.append(time.perf_counter() - t0)
            elif code == 429:
                statuses["429"] += 1
            else:
                statuses["error"] += 1
                if len(samples) < 3:
                    samples.append(f"{code} {text[:200]}")

    async def watch_memory() -> None:
        nonlocal peak
        while True:
            peak = max(peak, tree_rss_mb(proc))
            await asyncio.sleep(0.25)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        watcher = asyncio.create_task(watch_memory())
        await asyncio.gather(*(client(http) for _ in range(clients)))
        watcher.cancel()
    seconds = time.perf_counter() - start
    server_cpu, client_cpu = tree_cpu_s(proc) - server_cpu, time.process_time() - client_cpu
    ms = sorted(x * 1000 for x in latencies)

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))] if ms else float("nan")

    sent = sum(statuses.values())
    return Row(
        workload=work.name,
        variant="",
        clients=clients,
        sent=sent,
        ok=statuses["ok"],
        rejected_429=statuses["429"],
        errors=statuses["error"],
        seconds=round(seconds, 2),
        qps=round(statuses["ok"] / seconds, 1) if seconds else 0.0,
        p50_ms=round(statistics.median(ms), 1) if ms else float("nan"),
        p95_ms=round(pct(0.95), 1),
        p99_ms=round(pct(0.99), 1),
        rss_before_mb=round(rss_before),
        rss_peak_mb=round(max(peak, tree_rss_mb(proc))),
        rss_after_mb=round(tree_rss_mb(proc)),
        error_samples=samples,
        server_cpu_ms=round(1000 * server_cpu / max(1, statuses["ok"]), 2),
        client_cpu_ms=round(1000 * client_cpu / max(1, statuses["ok"]), 2),
    )


def print_row(row: Row) -> None:
    print(
        f"{row.workload:16} {row.variant:26} {row.clients:>4} {row.ok:>6}/{row.sent:<6} "
        f"{row.qps:>7.1f} {row.p50_ms:>8.1f} {row.p95_ms:>8.1f} {row.p99_ms:>8.1f} "
        f"{row.rejected_429:>5} {row.errors:>5} "
        f"{row.rss_before_mb:>6.0f} {row.rss_peak_mb:>6.0f} {row.rss_after_mb:>6.0f} "
        f"{row.server_cpu_ms:>6.1f} {row.client_cpu_ms:>6.1f}",
        flush=True,
    )
    for sample in row.error_samples:
        print(f"    error: {sample}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/datasets/scifact")
    parser.add_argument("--only", help="comma-separated workloads (default: all)")
    parser.add_argument("--variants", help="comma-separated server variants (default: all)")
    parser.add_argument("--clients", default="1,8,32,64", help="concurrent clients per row")
    parser.add_argument(
        "--overload", type=int, default=256, help="clients of the overload row (0: none)"
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests per row at most")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per row at most")
    parser.add_argument("--max-in-flight", type=int, default=64, help="the server's bound")
    parser.add_argument("--workers", type=int, default=4, help="the server's pipeline threads")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()

    all_work = workloads(args.dataset)
    chosen = args.only.split(",") if args.only else list(all_work)
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    for name in chosen:
        if name not in all_work:
            parser.error(f"--only: unknown workload {name!r} (known: {', '.join(all_work)})")
    for name in variants:
        if name not in VARIANTS:
            parser.error(f"--variants: unknown variant {name!r} (known: {', '.join(VARIANTS)})")
    client_counts = [int(c) for c in args.clients.split(",")]
    if args.overload:
        client_counts.append(args.overload)
    qs = questions(args.dataset)

    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"requests <= {args.requests}/row, <= {args.time_limit:g} s/row, "
        f"max_in_flight {args.max_in_flight}, workers {args.workers}",
        flush=True,
    )
    print(
        f"{'workload':16} {'variant':26} {'cli':>4} {'ok/sent':>13} {'req/s':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'429':>5} {'err':>5} "
        f"{'rss0':>6} {'peak':>6} {'rss1':>6} {'srvCPU':>6} {'cliCPU':>6}",
        flush=True,
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in chosen:
            work = all_work[name]
            index_dir = ensure_index(work)
            for variant_name in variants:
                variant = VARIANTS[variant_name]
                config = config_with(work, variant, Path(scratch))
                with running_server(config, index_dir, args.max_in_flight, args.workers) as (
                    base,
                    proc,
                ):
                    # Warm-up: the first requests pay for lazy imports and caches.
                    asyncio.run(fire(base, work, qs, 2, 8, 60, proc))
                    for clients in client_counts:
                        if work.max_requests and clients > 8:
                            continue  # a slow workload: a few clients tell enough
                        cap = work.max_requests or args.requests
                        row = asyncio.run(fire(base, work, qs, clients, cap, args.time_limit, proc))
                        row.variant = variant.name
                        rows.append(row)
                        print_row(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([asdict(r) for r in rows], indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
