"""Does OpenVINO run ragloom's exported MiniLM faster than ONNX Runtime here? (issue 16 item 1:
"OpenVINO if it measures better").

Both runtimes run the same cached ONNX file (`ragloom.onnx_export.onnx_model_file`, float32 and
dynamic int8) on the same tokenized batches of SciFact sentences (length-sorted, 32 a batch,
as `TextEncoder.encode` feeds them), with as many threads as torch; OpenVINO compiles the ONNX
graph for its CPU plugin (latency hint off, throughput as measured). Each runtime is timed
best of --rounds, in turn; agreement is the cosine of the first token states' mean to ONNX
Runtime's.

    pip install openvino==2026.4.1     # not a ragloom dependency
    python benchmarks/openvino_check.py --sentences 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ragloom.chunking.sentences import split_sentences
from ragloom.chunking.text_encoder import TextEncoder
from ragloom.loaders.files import load_beir_corpus
from ragloom.onnx_export import onnx_model_file
from ragloom.onnx_runtime import onnx_session

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"


def batches(count: int) -> list[dict[str, np.ndarray]]:
    """Tokenized, length-sorted batches of 32 SciFact sentences (int64 numpy inputs)."""
    encoder = TextEncoder.shared("minilm", device="cpu")
    texts: list[str] = []
    for doc in load_beir_corpus(DATASET):
        texts += [doc.text[a:b] for a, b in split_sentences(doc.text)]
        if len(texts) >= count:
            break
    out = []
    for _, batch in encoder.batches(texts[:count], batch_size=32):
        out.append({k: v.numpy().astype(np.int64) for k, v in batch.items()})
    return out


def pooled(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    return (states * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)


def main() -> None:
    import openvino as ov

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = batches(args.sentences)
    threads = torch.get_num_threads()
    core = ov.Core()
    runners = {}
    for quantize in ("none", "int8"):
        path = onnx_model_file("minilm", "AutoModel", "last_hidden_state", quantize)
        session = onnx_session(path, threads)
        names = [i.name for i in session.get_inputs()]
        runners[f"onnxruntime {quantize}"] = lambda b, s=session, n=names: s.run(
            ["last_hidden_state"], {k: b[k] for k in n}
        )[0]
        try:
            compiled = core.compile_model(
                str(path), "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            )
        except RuntimeError as exc:  # e.g. ONNX Runtime's own fused int8 operators
            print(f"openvino {quantize}: cannot compile the file: {str(exc).splitlines()[0]}")
            continue
        request = compiled.create_infer_request()
        ov_names = [i.get_any_name() for i in compiled.inputs]
        runners[f"openvino {quantize}"] = lambda b, r=request, n=ov_names: r.infer(
            {k: b[k] for k in n}
        )[0]
    reference = {
        name: np.concatenate([pooled(run(b), b["attention_mask"]) for b in work])
        for name, run in runners.items()
    }
    best = {name: float("inf") for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            began = time.perf_counter()
            for b in work:
                run(b)
            best[name] = min(best[name], time.perf_counter() - began)
    rows = []
    for name in runners:
        base = reference[f"onnxruntime {name.split()[1]}"]
        mine = reference[name]
        cos = (base * mine).sum(1) / (np.linalg.norm(base, axis=1) * np.linalg.norm(mine, axis=1))
        rows.append(
            {
                "runtime": name,
                "sentences_per_s": args.sentences / best[name],
                "cosine_min": float(cos.min()),
            }
        )
    print(f"{args.sentences} SciFact sentences, batches of 32, {threads} threads")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
