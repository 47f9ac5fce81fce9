"""Integration fixtures: one real index of the example corpus per test session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus"
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


def ragloom_cli(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the real `ragloom` console script in a subprocess."""
    cli = Path(sys.executable).parent / "ragloom"
    env = {**os.environ, "RAGLOOM_PROGRESS": "0"}
    proc = subprocess.run(
        [str(cli), *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ragloom {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A writable copy of the example corpus (tests edit and delete its files)."""
    target = tmp_path / "docs"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def example_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example corpus indexed once with the default configuration through the CLI."""
    index_dir = tmp_path_factory.mktemp("example-index") / "index"
    ragloom_cli("index", str(CORPUS), "--index-dir", str(index_dir))
    return index_dir


#: A handful of labelled pairs: enough for a tiny reranker the suite trains in seconds.
RERANK_PAIRS = [
    {
        "query": "what is reciprocal rank fusion",
        "positive": "Reciprocal rank fusion merges ranked lists by summing 1/(k+rank).",
        "negatives": ["Chroma stores dense vectors on disk."],
    },
    {
        "query": "how does late chunking embed a chunk",
        "positive": "Late chunking embeds the whole document once and pools token embeddings.",
    },
    {
        "query": "what is BM25",
        "positive": "BM25 ranks documents by term frequency and inverse document frequency.",
    },
    {
        "query": "which model writes the answers",
        "positive": "SmolLM2 is a small instruction-tuned language model that writes answers.",
    },
]


@pytest.fixture(scope="session")
def tiny_reranker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cross-encoder trained from the bundled MiniLM for a few steps (seconds on 2 cores)."""
    from ragloom.rerank.training import TrainingOptions, train_reranker

    folder = tmp_path_factory.mktemp("reranker")
    pairs = folder / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in RERANK_PAIRS), encoding="utf-8")
    options = TrainingOptions(  # BM25 negatives: cheap, and what these 12 steps are tuned to
        miner="bm25", negatives=3, max_steps=12, max_length=48, learning_rate=4e-4, warmup_ratio=0.0
    )
    train_reranker(pairs, folder / "model", options)
    return folder / "model"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """One local Ray (2 CPUs) for the whole session; yields its address for subprocesses.

    Its workers import test components by module name: a local Ray puts the driver's working
    directory (the repository root under pytest) on their sys.path.
    """
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="session")
def scifact_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SciFact in small: the first 10 judged test queries, their relevant abstracts and
    fillers, 30 documents (skipped without ../shared/datasets/scifact)."""
    if not SCIFACT.is_dir():
        pytest.skip("../shared/datasets/scifact absent")
    from ragloom.evaluation.beir import load_qrels, load_queries

    folder = tmp_path_factory.mktemp("scifact-slice")
    qrels = dict(list(load_qrels(SCIFACT, "test").items())[:10])
    wanted = {doc for docs in qrels.values() for doc in docs}
    corpus = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["_id"] in wanted or len(corpus) < 30 - len(wanted):
                corpus.append(line)
            if len(corpus) == 30:
                break
    assert len(corpus) == 30
    (folder / "corpus.jsonl").write_text("".join(corpus), encoding="utf-8")
    queries = load_queries(SCIFACT)
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in qrels)
    )
    (folder / "qrels").mkdir()
    rows = [f"{q}\t{d}\t{s}\n" for q, docs in qrels.items() for d, s in docs.items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows))
    return folder


# -- `ragloom serve` (tests/integration/test_server_*.py) ----------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _links(*links: str) -> list[dict[str, str]]:
    """Connections written as "sender -> receiver"."""
    return [dict(zip(("sender", "receiver"), link.split(" -> "), strict=True)) for link in links]


def server_config(folder: Path) -> dict:
    """BM25 + hashing-encoder Chroma (no model to load), fused; extractive answers; a gate
    (tests/integration/server_gate.py) in front of retrieval holds questions starting "hold"."""
    indexing = {
        "components": {
            "loader": {"type": "file_loader"},
            "chunker": {"type": "sentence_chunker", "init_parameters": {"sentences_per_chunk": 3}},
            "encoder": {"type": "hashing_encoder", "init_parameters": {"dimension": 64}},
            "dense_writer": {"type": "chroma_writer"},
            "bm25_writer": {"type": "bm25_writer"},
        },
        "connections": _links(
            "loader.documents -> chunker.documents",
            "chunker.chunks -> encoder.chunks",
            "encoder.chunks -> dense_writer.chunks",
            "chunker.chunks -> bm25_writer.chunks",
            "loader.empty -> dense_writer.delete_documents",
            "loader.empty -> bm25_writer.delete_documents",
        ),
        "inputs": {"paths": ["loader.paths"]},
    }
    query = {
        "components": {
            "gate": {"type": "server_test_gate", "init_parameters": {"folder": str(folder)}},
            "query_encoder": {
                "type": "hashing_query_encoder",
                "init_parameters": {"dimension": 64},
            },
            "dense": {"type": "chroma_retriever", "init_parameters": {"top_k": 10}},
            "bm25": {"type": "bm25_retriever", "init_parameters": {"top_k": 10}},
            "fusion": {"type": "rrf_fusion", "init_parameters": {"top_k": 5}},
            "answerer": {"type": "extractive_answerer", "init_parameters": {"max_passages": 3}},
        },
        "connections": _links(
            "gate.query -> query_encoder.query",
            "gate.query -> bm25.query",
            "query_encoder.embedding -> dense.query_embedding",
            "dense.hits -> fusion.hits",
            "bm25.hits -> fusion.hits",
            "fusion.hits -> answerer.hits",
        ),
        "inputs": {"query": ["gate.query", "answerer.question"], "top_k": ["fusion.top_k"]},
        "outputs": {"hits": "fusion.hits", "answer": "answerer.answer"},
    }
    return {"version": 1, "indexing": indexing, "query": query}


#: `ragloom serve`, with the gate stage registered first (its module is imported by name).
SERVE_WITH_GATE = "import tests.integration.server_gate; from ragloom.cli import main; main()"


def serve_subprocess(
    config: Path, index_dir: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """`ragloom serve -c CONFIG --index-dir INDEX --port PORT` in a subprocess (stdout and
    stderr piped), the gate stage registered; `env` adds to this process's environment."""
    env = {**os.environ, "RAGLOOM_PROGRESS": "0", "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-c", SERVE_WITH_GATE, "serve", "-c", str(config)]
    command += ["--index-dir", str(index_dir), "--port", str(port)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


class RunningServer:
    """A real uvicorn serving `create_app` on 127.0.0.1 in a background thread."""

    def __init__(self, app: object):
        import threading

        import uvicorn

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        import time

        import httpx

        self.thread.start()
        for _ in range(3000):  # until it answers /readyz 200 (or the thread dies)
            if not self.thread.is_alive():
                raise AssertionError("the server thread stopped before it was ready")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise AssertionError("the server was not ready within a minute")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


@pytest.fixture(scope="module")
def served_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The example corpus indexed with `server_config` (folder for the gate, index, config)."""
    import tests.integration.server_gate  # noqa: F401  (registers server_test_gate)
    from ragloom.config import config_from_dict
    from ragloom.rag import RAG

    folder = tmp_path_factory.mktemp("served")
    data = server_config(folder / "gate")
    (folder / "gate").mkdir()
    index_dir = folder / "index"
    RAG(config_from_dict(data), index_dir=index_dir).index([CORPUS])
    return folder / "gate", index_dir, data
