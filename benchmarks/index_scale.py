"""Indexing at scale: `ragloom index` speed, memory and disk on seeded synthetic corpora.

Corpora are JSONL files (`{"id": "d0000123", "text": ...}` a line) streamed to disk: documents
of `--words` (60) words drawn from a 50k-word Zipfian vocabulary (s = 1.0) of syllable-built
words ("ka", "temi", "zurano": the commonest are the shortest), seeded numpy RNG. Queries are
2-5 terms, each Zipfian or uniform with equal odds (as benchmarks/bm25_scale.py). Sections:

  bm25     `ragloom index CORPUS -c examples/bm25.yaml --index-dir DIR --json` per `--sizes`:
           wall s, docs/s, that child's peak RSS, index size on disk (du); the docs/s
           of the largest size over the smallest (target: within 25 %).
  commit   BM25Store.write in this process, `--commit-batches` batches of
           `--commit-batch-size` documents: seconds of batch 1, 2, 5, 10, 20, 50, ... and the
           index size then (flat: a commit costs O(batch); growing: O(index)).
  chroma-commit  the same through ChromaStore.write (delete by doc_id, then upsert 384-d
           stand-in vectors): does Chroma's own storage keep a write O(batch)?
  query    per `bm25` index, a fresh process opens BM25Store(DIR/bm25) and runs `--queries`
           searches (top 10): open s, RSS before/after opening, first query, p50/p95, peak RSS.
  parity   `--parity-docs` documents in 10 files, 10 cumulative `ragloom index` runs (from
           run 3 on, 1 % of the earlier files' documents edited and 0.5 % deleted, with
           --prune); then the store's top 10 against rank-bm25 BM25Okapi over the live chunks
           for `--parity-queries` queries (ties: scores within 1e-9 relative may swap).
  reindex  1 % of the largest bm25 corpus edited, `ragloom index` again into the same index:
           wall s, its ratio to the full build (target <= 5 %), added/updated/unchanged.
  dense    examples/hashing-dense.yaml (stand-in encoder into Chroma) at `--dense-sizes`
           documents (no full stops: one sentence_chunker chunk each): chunks/s, peak RSS.
  ray      Ray Data indexing with `--ray-actors` encoder actors (1 CPU each; 0 = local): the
           stand-in on `--ray-docs` documents, MiniLM (naive-chunking.yaml) on
           `--ray-minilm-docs`: docs/s per actor count.

Nothing is asserted: tables go to stdout, progress to stderr. Work files live in `--work`
(default benchmarks/results/index-scale/, git-ignored), wiped at the start unless `--keep`.

Run:  .venv/bin/python benchmarks/index_scale.py                     # every section, full sizes
      .venv/bin/python benchmarks/index_scale.py --only bm25 --only query --sizes 10000 100000
      .venv/bin/python benchmarks/index_scale.py --sizes 1000 3000 --parity-docs 3000 \\
          --dense-sizes 1000 --ray-docs 200 --ray-minilm-docs 50 --commit-batches 10  # smoke
      add --json to print one JSON object instead of tables, --out FILE to save it as well.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "results" / "index-scale"
BM25_CONFIG = ROOT / "examples" / "bm25.yaml"
DENSE_CONFIG = ROOT / "examples" / "hashing-dense.yaml"
MINILM_CONFIG = ROOT / "examples" / "naive-chunking.yaml"
RAGLOOM = str(Path(sys.executable).with_name("ragloom"))  # the venv's console script
SECTIONS = ("bm25", "commit", "chroma-commit", "query", "parity", "reindex", "dense", "ray")
VOCAB = 50_000
ZIPF_S = 1.0
BLOCK = 10_000  # documents drawn per RNG call while streaming a corpus
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
CHILD_ENV = {
    "RAGLOOM_PROGRESS": "0",
    "HF_HUB_OFFLINE": "1",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}
Row = dict[str, Any]

# -- corpus and queries ---------------------------------------------------------------------


@functools.cache
def vocabulary() -> np.ndarray:
    """VOCAB distinct words, rank order: 1, then 2, then 3 CV syllables (uniquely decodable)."""
    words = ("".join(parts) for n in (1, 2, 3) for parts in itertools.product(SYLLABLES, repeat=n))
    return np.array(list(itertools.islice(words, VOCAB)), dtype=object)


@functools.cache
def zipf_probabilities() -> np.ndarray:
    p = 1.0 / np.arange(1, VOCAB + 1) ** ZIPF_S
    return p / p.sum()


def random_texts(rng: np.random.Generator, count: int, words: int) -> list[str]:
    """`count` texts of `words` Zipfian words each."""
    picks = vocabulary()[rng.choice(VOCAB, (count, words), p=zipf_probabilities())]
    return [" ".join(row) for row in picks]


def doc_id(number: int) -> str:
    return f"d{number:07d}"


def iter_documents(n_docs: int, seed: int, words: int) -> Iterator[tuple[str, str]]:
    """(id, text) of `n_docs` documents, drawn BLOCK at a time: never all in memory."""
    rng = np.random.default_rng(seed)
    for first in range(0, n_docs, BLOCK):
        texts = random_texts(rng, min(BLOCK, n_docs - first), words)
        yield from ((doc_id(first + i), text) for i, text in enumerate(texts))


def write_corpus(path: Path, documents: Iterable[tuple[str, str]]) -> Path:
    """Stream documents to a JSONL file through a temp file (atomic replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for key, text in documents:
            handle.write(json.dumps({"id": key, "text": text}) + "\n")
    os.replace(tmp, path)
    return path


def edit_corpus(path: Path, edits: dict[str, str]) -> None:
    """Replace the text of the documents in `edits`, streaming the file (same path: the
    documents' `source` metadata, and so their hashes, stay the same otherwise)."""
    with path.open(encoding="utf-8") as lines:
        records = (json.loads(line) for line in lines if line.strip())
        write_corpus(path, ((r["id"], edits.get(r["id"], r["text"])) for r in records))


def make_queries(n_queries: int, seed: int) -> list[str]:
    """2-5 terms each; every term Zipfian or uniform with equal odds."""
    rng, vocab = np.random.default_rng(seed), vocabulary()
    queries = []
    for _ in range(n_queries):
        length = int(rng.integers(2, 6))
        zipfian = rng.choice(VOCAB, length, p=zipf_probabilities())
        uniform = rng.integers(0, VOCAB, length)
        queries.append(" ".join(vocab[np.where(rng.random(length) < 0.5, zipfian, uniform)]))
    return queries


# -- child processes --------------------------------------------------------------------------


#: Runs argv[2:] and writes its peak RSS (KiB) to argv[1]. A child forked from this process
#: would start its ru_maxrss at this process's size (Linux keeps the high-water mark across
#: fork + exec); forked from this small wrapper it counts only itself.
WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(rc)"
)


def run_child(command: list[str]) -> tuple[int, float, float, str, str]:
    """Run a command: exit code, wall s, its peak RSS in MB, stdout, stderr."""
    with tempfile.TemporaryDirectory(prefix="index-scale-") as tmp:
        out, err, peak = (Path(tmp) / name for name in ("out", "err", "peak"))
        start = time.perf_counter()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            wrapped = [sys.executable, "-c", WRAPPER, str(peak), *command]
            env = {**os.environ, **CHILD_ENV}
            rc = subprocess.run(wrapped, stdout=stdout, stderr=stderr, env=env, cwd=ROOT).returncode
        seconds = time.perf_counter() - start
        kib = int(peak.read_text() or 0) if peak.exists() else 0
        texts = [path.read_text(encoding="utf-8", errors="replace") for path in (out, err)]
    return rc, seconds, kib / 1024, texts[0], texts[1]


def run_index(paths: list[Path], config: Path, index_dir: Path, prune: bool = False) -> Row:
    """`ragloom index PATHS -c CONFIG --index-dir DIR --json`: its report, wall s, peak RSS."""
    command = [RAGLOOM, "index", *map(str, paths), "-c", str(config)]
    command += ["--index-dir", str(index_dir), "--json", *(["--prune"] if prune else [])]
    rc, seconds, peak, out, err = run_child(command)
    if rc != 0:
        raise RuntimeError(f"ragloom index exited {rc}: " + " | ".join(err.splitlines()[-5:]))
    return {"wall_s": seconds, "peak_rss_mb": peak, "report": json.loads(out.splitlines()[-1])}


def speeds(run: Row, count: int, unit: str) -> Row:
    """Wall s, `unit`/s over it and the report's own rate over its writing phase."""
    writing = run["report"].get("throughput", {}).get(f"{unit}_per_s")
    speed = {"wall_s": run["wall_s"], f"{unit}_per_s": count / run["wall_s"]}
    return speed | {f"{unit}_per_s_writing": writing, "peak_rss_mb": run["peak_rss_mb"]}


def disk_mb(path: Path) -> float:
    """What `du` says: allocated blocks of every file under `path`."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total / 2**20


def current_rss_mb() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def segment_count(store: Any) -> int | None:
    value = getattr(store, "segment_count", None)
    value = value() if callable(value) else value
    return value if isinstance(value, int) else None


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- sections ---------------------------------------------------------------------------------


def section_bm25(args: argparse.Namespace, built: dict[int, Row]) -> Row:
    rows: list[Row] = []
    for size in sorted(args.sizes):
        log(f"bm25: {size:,} documents ...")
        corpus = write_corpus(
            args.work / f"corpus-{size}.jsonl", iter_documents(size, args.seed, args.words)
        )
        run = run_index([corpus], BM25_CONFIG, fresh(args.work / f"bm25-{size}"))
        report = run["report"]
        row = {"documents": size, "corpus_mb": corpus.stat().st_size / 2**20}
        row |= speeds(run, size, "documents")
        row |= {"index_mb": disk_mb(args.work / f"bm25-{size}")}
        row |= {"stored": sum(report.get("stored", {}).values())}
        rows.append(row)
        built[size] = row
    notes = []
    if len(rows) > 1:
        big, small = rows[-1], rows[0]
        wall, writing = (big[k] / small[k] for k in ("documents_per_s", "documents_per_s_writing"))
        notes.append(
            f"docs/s at {big['documents']:,} / at {small['documents']:,}: {wall:.2f} wall, "
            f"{writing:.2f} writing phase (target: within 25 %, i.e. >= 0.75)"
        )
    return {"rows": rows, "notes": notes}


def _commit_series(args: argparse.Namespace, folder: Path, write: Any, embed: bool) -> Row:
    """Write `--commit-batches` batches through `write(chunks)`; the time of each, by size."""
    from ragloom.chunking.hashing import hash_embed
    from ragloom.types import Chunk

    total, size = args.commit_batches, args.commit_batch_size
    marks = {m * 10**e for e in range(7) for m in (1, 2, 5)} | {total}
    documents = iter_documents(total * size, args.seed + 10, args.words)
    times: list[float] = []
    rows: list[Row] = []
    for batch in range(1, total + 1):
        batch_docs = list(itertools.islice(documents, size))
        vectors = hash_embed([text for _, text in batch_docs], 384) if embed else None
        chunks = [
            Chunk(doc_id=key, text=text, start=0, end=len(text), position=0, id=f"{key}#0")
            for key, text in batch_docs
        ]
        if vectors is not None:
            for chunk, vector in zip(chunks, vectors, strict=True):
                chunk.embedding = vector
        start = time.perf_counter()
        write(chunks)
        times.append(time.perf_counter() - start)
        if batch in marks:
            since = len(rows) and rows[-1]["batch"]
            row = {"batch": batch, "documents": batch * size, "batch_s": times[-1]}
            row |= {"mean_s": float(np.mean(times[since:])), "index_mb": disk_mb(folder)}
            rows.append(row)
            log(f"commit: batch {batch}: {times[-1]:.3f} s")
    tenth = max(1, total // 10)
    ratio = float(np.mean(times[-tenth:]) / np.mean(times[:tenth]))
    notes = [
        f"mean of the last {tenth} batches / the first {tenth}: {ratio:.2f} "
        "(about 1: a commit costs O(batch); growing with the batch number: O(index))",
        f"total {sum(times):.1f} s for {total * size:,} documents; peak RSS of this process "
        f"{peak_rss_mb():.0f} MB",
    ]
    return {"rows": rows, "notes": notes}


def section_commit(args: argparse.Namespace, built: dict[int, Row]) -> Row:
    """BM25Store.write, batch after batch: the commit time against the index size."""
    from ragloom.retrievers.bm25_scoring import BM25Settings
    from ragloom.retrievers.bm25_store import BM25Store

    folder = fresh(args.work / "commit")
    store = BM25Store(folder, BM25Settings())
    result = _commit_series(args, folder, store.write, embed=False)
    result["notes"].append(f"segments at the end: {segment_count(store)}")
    return result


def section_chroma_commit(args: argparse.Namespace, built: dict[int, Row]) -> Row:
    """The same through ChromaStore.write (replace by document: a delete by doc_id, then an
    upsert), stand-in 384-d vectors: does Chroma's own storage keep a write O(batch)?"""
    from ragloom.retrievers.chroma_store import ChromaStore

    folder = fresh(args.work / "chroma-commit")
    store = ChromaStore(folder, "bench", {"space": "cosine"})
    return _commit_series(args, folder, store.write, embed=True)


def query_child(directory: Path, queries_file: Path) -> Row:
    """In a fresh process: open a BM25 store, run the queries, measure time and memory."""
    from ragloom.retrievers.bm25_store import BM25Store

    queries = json.loads(queries_file.read_text(encoding="utf-8"))
    base = current_rss_mb()
    start = time.perf_counter()
    store = BM25Store(directory)
    opened = time.perf_counter() - start
    after_open = current_rss_mb()
    times = []
    for query in queries:
        start = time.perf_counter()
        store.search(query, 10)
        times.append((time.perf_counter() - start) * 1000)
    row = {"open_s": opened, "rss_base_mb": base, "rss_open_mb": after_open, "first_ms": times[0]}
    row |= {f"p{q}_ms": float(np.percentile(times, q)) for q in (50, 95)}
    row |= {"peak_rss_mb": peak_rss_mb(), "segments": segment_count(store)}
    return row


def section_query(args: argparse.Namespace, built: dict[int, Row]) -> Row:
    queries = args.work / "queries.json"
    queries.write_text(json.dumps(make_queries(args.queries, args.seed + 1)), encoding="utf-8")
    rows: list[Row] = []
    for size in sorted(args.sizes):
        store = args.work / f"bm25-{size}" / "bm25"
        if not store.is_dir():
            log(f"query: no index at {store}; run the bm25 section first (or --keep one)")
            continue
        log(f"query: {size:,} documents ...")
        command = [sys.executable, __file__, "--query-child", str(store), str(queries)]
        rc, _, _, out, err = run_child(command)
        if rc != 0:
            raise RuntimeError(f"query child exited {rc}: {err.strip()[-500:]}")
        rows.append({"documents": size, "queries": args.queries, **json.loads(out)})
    return {"rows": rows, "notes": []}


def ranked(scores: np.ndarray, ids: list[str], k: int, rel: float) -> list[tuple[str, float]]:
    """Positive-score entries sorted by (-score, id): the top `k` and everything tied with them."""
    pos = np.flatnonzero(scores > 0)
    if len(pos) > k:
        kth = np.partition(scores[pos], len(pos) - k)[len(pos) - k]
        pos = pos[scores[pos] >= kth - abs(kth) * rel]
    return sorted(((ids[i], float(scores[i])) for i in pos), key=lambda x: (-x[1], x[0]))


def same_ranking(
    got: list[tuple[str, float]], reference: list[tuple[str, float]], k: int, rel: float
) -> tuple[bool, bool, float]:
    """(identical ids, equal but for order inside tied groups, max abs score difference)."""
    top = reference[:k]
    diff = max((abs(a[1] - b[1]) for a, b in zip(got, top, strict=False)), default=0.0)
    if [g[0] for g in got] == [r[0] for r in top]:
        return True, True, diff
    if len(got) != len(top):
        return False, False, diff

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= rel * max(abs(a), abs(b))

    for (gid, gscore), (_, rscore) in zip(got, top, strict=True):
        tied = {cid for cid, score in reference if close(score, rscore)}
        if not close(gscore, rscore) or gid not in tied:
            return False, False, diff
    return False, True, diff


def section_parity(args: argparse.Namespace, built: dict[int, Row]) -> Row:
    from rank_bm25 import BM25Okapi

    from ragloom.retrievers.bm25_scoring import tokenize
    from ragloom.retrievers.bm25_store import BM25Store

    n, parts, folder = args.parity_docs, 10, fresh(args.work / "parity")
    live: list[dict[str, str]] = [{} for _ in range(parts)]
    for number, (key, text) in enumerate(iter_documents(n, args.seed + 20, args.words)):
        live[number * parts // n][key] = text
    files = [folder / f"part-{i + 1:02d}.jsonl" for i in range(parts)]
    for path, documents in zip(files, live, strict=True):
        write_corpus(path, documents.items())
    rng, rows = np.random.default_rng(args.seed + 21), []
    for run in range(1, parts + 1):
        for part in range(run - 1 if run >= 3 else 0):  # the files indexed already
            keys = sorted(live[part])
            n_edit, n_delete = max(1, len(keys) // 100), max(1, len(keys) // 200)
            picks = rng.choice(len(keys), min(len(keys), n_edit + n_delete), replace=False)
            texts = random_texts(rng, n_edit, args.words)
            for i, text in zip(picks[:n_edit], texts, strict=False):
                live[part][keys[i]] = text
            for i in picks[n_edit:]:
                del live[part][keys[i]]
            write_corpus(files[part], live[part].items())
        log(f"parity: run {run} ...")
        result = run_index(files[:run], BM25_CONFIG, folder / "index", prune=run >= 3)
        report = result["report"]
        counts = {key: report.get(key) for key in ("added", "updated", "unchanged", "deleted")}
        in_files = sum(len(part) for part in live[:run])
        rows.append({"run": run, "documents": in_files, "wall_s": result["wall_s"], **counts})

    store = BM25Store(folder / "index" / "bm25")
    chunks = [(c.id, c.doc_id, c.text) for c in store.iter_chunks()]
    expected = {key: text for part in live for key, text in part.items()}
    stored = {d: t for _, d, t in chunks}
    missing = len(expected.keys() - stored.keys())
    extra = len(stored.keys() - expected.keys())
    stale = sum(stored[k] != t for k, t in expected.items() if k in stored)
    log(f"parity: rank-bm25 over {len(chunks):,} chunks ...")
    ids = [c[0] for c in chunks]
    reference = BM25Okapi([tokenize(c[2]) for c in chunks], k1=1.5, b=0.75, epsilon=0.25)
    identical = tied = 0
    worst = 0.0
    queries = make_queries(args.parity_queries, args.seed + 2)
    for query in queries:
        got = [(hit.chunk.id, hit.score) for hit in store.search(query, 10)]
        ref = ranked(reference.get_scores(tokenize(query)), ids, 10, 1e-9)
        same, equal, diff = same_ranking(got, ref, 10, 1e-9)
        identical, tied, worst = identical + same, tied + equal, max(worst, diff)
    segments = segment_count(store)
    notes = [
        f"live chunks {len(chunks):,}; against the files: {missing} missing, {extra} extra, "
        f"{stale} stale",
        f"{len(queries)} queries: top-10 identical {identical / len(queries):.1%}, equal "
        f"allowing ties {tied / len(queries):.1%}, max abs score diff {worst:.2e}",
        f"segments: {segments if segments is not None else 'n/a (store does not say)'}",
    ]
    summary = {"chunks": len(chunks), "missing": missing, "extra": extra, "stale": stale}
    summary |= {"identical": identical / len(queries), "equal_with_ties": tied / len(queries)}
    summary |= {"max_abs_diff": worst, "segments": segments}
    return {"rows": rows, "notes": notes, "summary": summary}


def section_reindex(args: argparse.Namespace, built: dict[int, Row]) -> Row:
    size = max(args.sizes)
    corpus, index = args.work / f"corpus-{size}.jsonl", args.work / f"bm25-{size}"
    if size not in built:
        log(f"reindex: full build of {size:,} documents first ...")
        write_corpus(corpus, iter_documents(size, args.seed, args.words))
        built[size] = {"wall_s": run_index([corpus], BM25_CONFIG, fresh(index))["wall_s"]}
    rng = np.random.default_rng(args.seed + 30)
    chosen = sorted(rng.choice(size, max(1, size // 100), replace=False).tolist())
    texts = random_texts(rng, len(chosen), args.words)
    edit_corpus(corpus, {doc_id(i): t for i, t in zip(chosen, texts, strict=True)})
    log(f"reindex: {len(chosen):,} of {size:,} documents edited ...")
    run = run_index([corpus], BM25_CONFIG, index)
    report, full = run["report"], built[size]["wall_s"]
    row = {"documents": size, "edited": len(chosen), "full_s": full, "wall_s": run["wall_s"]}
    row |= {"ratio": run["wall_s"] / full, "peak_rss_mb": run["peak_rss_mb"]}
    row |= {key: report.get(key) for key in ("added", "updated", "unchanged", "deleted")}
    return {"rows": [row], "notes": ["target: reindex wall s <= 5 % of the full build"]}


def section_dense(args: argparse.Namespace, built: dict[int, Row]) -> Row:
    if not DENSE_CONFIG.exists():
        raise FileNotFoundError(f"{DENSE_CONFIG.relative_to(ROOT)} (the stand-in encoder's config)")
    rows: list[Row] = []
    notes: list[str] = []
    for size in args.dense_sizes:
        log(f"dense: {size:,} documents ...")
        path = args.work / f"dense-{size}.jsonl"
        corpus = write_corpus(path, iter_documents(size, args.seed + 40, args.words))
        run = run_index([corpus], DENSE_CONFIG, fresh(args.work / f"dense-{size}"))
        report = run["report"]
        chunks = sum(report.get("chunks_written", {}).values())
        row = {"documents": size, "chunks": chunks, **speeds(run, chunks, "chunks")}
        rows.append(row | {"index_mb": disk_mb(args.work / f"dense-{size}")})
        # Per-batch commit times, if a later report carries them; else what it does carry.
        batches = {k: v for k, v in report.items() if "batch" in k or "commit" in k}
        timings = {k: round(v, 3) for k, v in report.get("timings", {}).items()}
        shown = batches or {"timings": timings, "keys": sorted(report)}
        notes.append(f"report at {size:,}: {json.dumps(shown)}")
    return {"rows": rows, "notes": notes}


def section_ray(args: argparse.Namespace, built: dict[int, Row]) -> Row:
    rows: list[Row] = []
    runs = [("stand-in", DENSE_CONFIG, args.ray_docs)]
    runs += [("MiniLM", MINILM_CONFIG, args.ray_minilm_docs)]
    for label, config, docs in runs:
        corpus = args.work / f"ray-{docs}.jsonl"
        if not corpus.exists():
            write_corpus(corpus, iter_documents(docs, args.seed + 50, args.words))
        for actors in args.ray_actors:
            log(f"ray: {label}, {actors} encoder actor(s), {docs:,} documents ...")
            row: Row = {"encoder": label, "actors": actors, "documents": docs}
            try:
                data = yaml.safe_load(config.read_text(encoding="utf-8"))
                if actors:
                    indexing = {"encoder_actors": actors, "num_cpus": 1, "batch_size": 64}
                    data["executor"] = {"type": "ray", "indexing": indexing}
                temp = args.work / f"ray-{label.lower()}-{actors}.yaml"
                temp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
                index = fresh(args.work / f"ray-{label.lower()}-{actors}")
                run = run_index([corpus], temp, index)
                report = run["report"]
                row |= {"chunks": sum(report.get("chunks_written", {}).values())}
                row |= speeds(run, docs, "documents") | {"executor": report.get("executor")}
            except Exception as exc:  # one failed run must not hide the others
                row["error"] = f"{type(exc).__name__}: {exc}"
                log(f"ray: {label} x{actors} failed: {row['error']}")
            rows.append(row)
    return {"rows": rows, "notes": ["actors 0: the local executor (no Ray)"]}


RUNNERS = {
    "bm25": section_bm25, "commit": section_commit, "chroma-commit": section_chroma_commit,
    "query": section_query,
    "parity": section_parity, "reindex": section_reindex, "dense": section_dense,
    "ray": section_ray,
}  # fmt: skip

# -- output -----------------------------------------------------------------------------------


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def render(name: str, result: Row) -> str:
    """A section as a Markdown table (a column per key of its rows) and its notes."""
    if "error" in result:
        return f"## {name}\nfailed: {result['error']}"
    keys = list(dict.fromkeys(key for row in result["rows"] for key in row))
    lines = [f"## {name}", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(row.get(k)) for k in keys) + " |" for row in result["rows"]]
    return "\n".join(lines + result.get("notes", []))


def machine() -> Row:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    now = datetime.datetime.now().isoformat(timespec="seconds")
    info = {"platform": platform.platform(), "cpus": os.cpu_count()}
    return info | {"python": platform.python_version(), "date": now, "commit": commit or None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=SECTIONS, help="repeatable")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--words", type=int, default=60, help="words per document")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--commit-batches", type=int, default=200)
    parser.add_argument("--commit-batch-size", type=int, default=1000)
    parser.add_argument("--parity-docs", type=int, default=100_000)
    parser.add_argument("--parity-queries", type=int, default=200)
    parser.add_argument("--dense-sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--ray-docs", type=int, default=2000)
    parser.add_argument("--ray-minilm-docs", type=int, default=200)
    parser.add_argument("--ray-actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=WORK, help="work directory")
    parser.add_argument("--keep", action="store_true", help="do not wipe --work first")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also save the JSON object to this file")
    parser.add_argument("--query-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.query_child:
        print(json.dumps(query_child(*args.query_child)))
        return 0
    args.work = args.work.resolve()
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.update(CHILD_ENV)
    info = machine()
    if not args.json:
        print(" | ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    built: dict[int, Row] = {}
    results: dict[str, Row] = {}
    for name in [s for s in SECTIONS if not args.only or s in args.only]:
        start = time.perf_counter()
        try:
            results[name] = RUNNERS[name](args, built)
        except Exception as exc:  # a failed section is reported, the next one still runs
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"{name} failed: {results[name]['error']}")
        results[name]["section_s"] = time.perf_counter() - start
        if not args.json:
            print("\n" + render(name, results[name]), flush=True)
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    payload = {"machine": info, "options": options, "sections": results}
    if args.json:
        print(json.dumps(payload))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
