"""The whole `ragloom index` of SciFact with `examples/hybrid.yaml` per inference backend, and
the SciFact nDCG@10 each index gives: torch fp32 against ONNX Runtime fp32 and dynamic int8, and
OpenVINO (its own precision choice: bfloat16 on CPUs with it).

Each variant is hybrid.yaml with `backend`/`quantize` set on both encoders (the late-chunking
encoder that indexes and the query encoder that asks), so a variant's index is searched with
queries encoded the same way. Per variant: a fresh index under
`benchmarks/results/index-backends/<variant>` (timed: `ragloom eval`'s own indexing of the
5,183 abstracts, models loaded and the ONNX export already in the model cache, so the time is
the indexing itself), then nDCG@10 on the test split (and `--splits` more), then the cosine of
its stored sentence vectors to the torch index's (same ids, a seeded sample). The variants run
one after the other on an otherwise idle machine: compare the ratios, not the seconds.

Per variant also the share of the indexing time spent at matmul peak: the FLOPs its
late-chunking encoder runs over the corpus (`roofline.model_flops` over the padded widths of the
macro-windows and, with `late_weight` < 1, of the sentences encoded alone: `index_flops.py`,
counted from the tokenizer) over the whole indexing time, as GFLOP/s and a % of the float32
peak and of the peak of the variant's own type (onnx-int8: ONNX Runtime's MatMulInteger,
openvino: bfloat16 where the CPU has a bf16 flag), the peak measured at the start of the run
(`roofline.matmul_peak`, `--peak-sizes`/`--peak-repeat`). `--stored` indexes nothing: it
prints that share for the times stored in index_backends.json, with a peak measured now.

    python benchmarks/index_backends.py                       # torch, onnx, onnx-int8 (~30 min)
    python benchmarks/index_backends.py --variants torch onnx-int8 --limit-docs 300   # smoke
    python benchmarks/index_backends.py --reuse               # only score existing indexes
    python benchmarks/index_backends.py --stored              # stored times vs a peak now

Writes benchmarks/results/index_backends.json (git-ignored).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from index_flops import index_widths
from peak_share import (
    SHARE_HEADER,
    SHARE_RULE,
    add_peak_options,
    measure_peak,
    own_kind,
    peak_share,
    share_cells,
)
from roofline import model_flops

from ragloom.config import config_from_dict
from ragloom.evaluation.runner import evaluate_beir
from ragloom.loaders.files import load_beir_corpus
from ragloom.retrievers.chroma_store import open_client

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
CONFIG = ROOT / "examples" / "hybrid.yaml"
RESULTS = ROOT / "benchmarks" / "results"
#: variant -> the settings put on both encoder stages.
VARIANTS: dict[str, dict[str, str]] = {
    "torch": {"backend": "torch"},
    "onnx": {"backend": "onnx"},
    "onnx-int8": {"backend": "onnx", "quantize": "int8"},
    "openvino": {"backend": "openvino"},  # dtype auto: bfloat16 where the CPU has it
}
ENCODER_TYPES = ("late_chunking_encoder", "chunk_encoder", "query_encoder")


def variant_config(base: dict[str, Any], settings: dict[str, str]) -> dict[str, Any]:
    """The config dict with `settings` on every encoder stage of both pipelines."""
    data = copy.deepcopy(base)
    for section in ("indexing", "query"):
        for component in data[section]["components"].values():
            if component["type"] in ENCODER_TYPES:
                component.setdefault("init_parameters", {}).update(settings)
    return data


def small_corpus(count: int, folder: Path) -> Path:
    """The first `count` abstracts with the qrels and queries: a BEIR folder for smoke runs."""
    folder.mkdir(parents=True, exist_ok=True)
    with (DATASET / "corpus.jsonl").open(encoding="utf-8") as source:
        lines = [line for _, line in zip(range(count), source, strict=False)]
    (folder / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
    shutil.copy(DATASET / "queries.jsonl", folder / "queries.jsonl")
    shutil.copytree(DATASET / "qrels", folder / "qrels", dirs_exist_ok=True)
    return folder


def warm_export(data: dict[str, Any]) -> None:
    """Load every model once (and export ONNX into the model cache) outside the timed run."""
    config = config_from_dict(data)
    for pipeline in (config.indexing, config.query):
        for component in pipeline.components.values():
            if type(component).registered_name() in ENCODER_TYPES:
                component.warm_up()


def vectors(index_dir: Path, ids: list[str]) -> dict[str, np.ndarray]:
    """The stored dense vectors of `ids` in an index's Chroma collection."""

    collection = open_client(index_dir / "chroma", create=False).get_collection(
        "ragloom", embedding_function=None
    )
    got = collection.get(ids=ids, include=["embeddings"])
    pairs = zip(got["ids"], got["embeddings"], strict=True)
    return {i: np.asarray(e, dtype=np.float32) for i, e in pairs}


def sample_ids(index_dir: Path, count: int, seed: int) -> list[str]:
    """A seeded sample of the chunk ids in an index's Chroma collection."""

    collection = open_client(index_dir / "chroma", create=False).get_collection(
        "ragloom", embedding_function=None
    )
    ids = sorted(collection.get(include=[])["ids"])
    return random.Random(seed).sample(ids, min(count, len(ids)))


def cosines(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean and minimum cosine between the vectors both hold under the same id."""
    common = sorted(set(reference) & set(other))
    a = np.stack([reference[i] for i in common])
    b = np.stack([other[i] for i in common])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"compared": len(common), "mean": float(cos.mean()), "min": float(cos.min())}


def encoder_kind(settings: dict[str, str]) -> str:
    """The `matmul_peak` kind a variant's indexing encoder runs in."""
    return own_kind(
        settings["backend"], settings.get("dtype", "auto"), settings.get("quantize", "none")
    )


def index_share(
    data: dict[str, Any], dataset: Path, seconds: float, kind: str, peak: dict[str, float]
) -> dict[str, Any]:
    """The indexing encoder's FLOPs over `dataset` (from the tokenizer) in `seconds` of
    indexing, as GFLOP/s and shares of the peak."""
    config, widths = index_widths(config_from_dict(data).indexing, load_beir_corpus(dataset))
    flops = model_flops(config, widths)
    return {"index_tflop": flops / 1e12, "padded_tokens": sum(widths)} | peak_share(
        flops, seconds, kind, peak
    )


def print_shares(rows: dict[str, dict[str, Any]]) -> None:
    """The table of each variant's indexing time as a share of the matmul peak."""
    print(f"\n| variant | index s | encoder TFLOP | padded tokens | {SHARE_HEADER} |")
    print(f"|---|---:|---:|---:|{SHARE_RULE}")
    for name, row in rows.items():
        if "gflops" in row:
            print(
                f"| {name} | {row['index_s']:.0f} | {row['index_tflop']:.1f} | "
                f"{row['padded_tokens']} | {share_cells(row)} |"
            )


def seconds_given(values: list[str]) -> dict[str, float]:
    """`--stored-times torch=1023 onnx=499` as {variant: seconds}."""
    out = {}
    for value in values:
        name, _, seconds = value.partition("=")
        if name not in VARIANTS or not seconds:
            raise SystemExit(
                f"--stored-times {value!r}: want VARIANT=SECONDS, one of {list(VARIANTS)}"
            )
        out[name] = float(seconds)
    return out


def stored(base: dict[str, Any], given: dict[str, float], peak: dict[str, float]) -> None:
    """Print the share of a peak measured now for the index times in index_backends.json (a
    full-corpus run unless it says otherwise) and those `given`."""
    path = RESULTS / "index_backends.json"
    saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    limit = saved.get("limit_docs", 0)
    dataset = small_corpus(limit, Path(tempfile.mkdtemp()) / "scifact") if limit else DATASET
    times = {n: r["index_s"] for n, r in saved.get("rows", {}).items() if "index_s" in r}
    rows = {}
    for name, seconds in (times | given).items():
        data = variant_config(base, VARIANTS[name])
        rows[name] = {"index_s": seconds} | index_share(
            data, dataset, seconds, encoder_kind(VARIANTS[name]), peak
        )
    print(
        f"\nSTORED index times ({', '.join(times) or 'none'} from {path}, limit_docs {limit}; "
        f"{', '.join(given) or 'none'} from --stored-times); matmul peak measured NOW, "
        "not in the runs that timed them:"
    )
    print_shares(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--splits", nargs="+", default=["test"])
    parser.add_argument("--limit-docs", type=int, default=0, help="index only the first N")
    parser.add_argument("--reuse", action="store_true", help="keep indexes that already exist")
    parser.add_argument("--sample", type=int, default=5000, help="vectors compared to torch")
    parser.add_argument("--root", type=Path, default=RESULTS / "index-backends")
    parser.add_argument(
        "--stored",
        action="store_true",
        help="index nothing: the share of a peak measured now for index_backends.json's times",
    )
    parser.add_argument(
        "--stored-times",
        nargs="+",
        default=[],
        metavar="VARIANT=SECONDS",
        help="with --stored: index seconds of earlier runs (e.g. benchmarks/README.md's table)",
    )
    add_peak_options(parser)
    args = parser.parse_args()
    if args.stored_times and not args.stored:
        parser.error("--stored-times goes with --stored")
    given = seconds_given(args.stored_times)

    peak = measure_peak(args.peak_sizes, args.peak_repeat)
    base = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    if args.stored:
        stored(base, given, peak)
        return
    dataset = DATASET
    if args.limit_docs:
        dataset = small_corpus(args.limit_docs, Path(tempfile.mkdtemp()) / "scifact")
    rows: dict[str, dict[str, Any]] = {}
    for name in args.variants:
        data = variant_config(base, VARIANTS[name])
        warm_export(data)
        index_dir = args.root / name
        if index_dir.exists() and not args.reuse:
            shutil.rmtree(index_dir)
        row: dict[str, Any] = {}
        for split in args.splits:
            report = evaluate_beir(
                config_from_dict(data),
                dataset,
                split=split,
                index_dir=index_dir,
                depth=100,
                log=lambda message, name=name: print(f"  [{name}] {message}", flush=True),
            )
            if not report.index_reused:
                row["index_s"] = report.index_seconds
                row["docs_per_s"] = report.documents / report.index_seconds
                row["chunks"] = report.chunks
                kind = encoder_kind(VARIANTS[name])
                row |= index_share(data, dataset, report.index_seconds, kind, peak)
            row[f"ndcg10_{split}"] = report.metrics["ndcg@10"]
            row[f"query_ms_{split}"] = float(np.median(report.query_ms))
        rows[name] = row
        print(f"{name}: {json.dumps(row)}", flush=True)

    if "torch" in rows:
        ids = sample_ids(args.root / "torch", args.sample, seed=7)
        reference = vectors(args.root / "torch", ids)
        for name in rows:
            if name != "torch":
                rows[name]["cosine_to_torch"] = cosines(reference, vectors(args.root / name, ids))

    print(f"\n{'variant':<10} {'index s':>8} {'docs/s':>7} {'speed-up':>8}", end="")
    print("".join(f" {'nDCG@10 ' + s:>14}" for s in args.splits), " cosine to torch (mean/min)")
    torch_s = rows.get("torch", {}).get("index_s")
    for name, row in rows.items():
        speed = f"{torch_s / row['index_s']:.2f}x" if torch_s and "index_s" in row else "-"
        index_s = f"{row['index_s']:.0f}" if "index_s" in row else "reused"
        rate = f"{row['docs_per_s']:.1f}" if "docs_per_s" in row else "-"
        print(f"{name:<10} {index_s:>8} {rate:>7} {speed:>8}", end="")
        print("".join(f" {row[f'ndcg10_{s}']:>14.4f}" for s in args.splits), end="")
        cos = row.get("cosine_to_torch")
        print(f"  {cos['mean']:.4f} / {cos['min']:.4f}" if cos else "  -")
    print_shares(rows)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    out = {"machine": machine, "limit_docs": args.limit_docs, "peak_gflops": peak, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "index_backends.json").write_text(json.dumps(out, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
