"""`ragloom serve --processes N`: N server processes answering on one port, each with its own
pipelines, for a machine with more cores than one Python process can keep busy.

One process runs Python code (fusion, HTTP, and Chroma's search, which holds the GIL) on one
core at a time, so retrieval stops scaling at about one core. uvicorn's supervisor starts the
processes on a shared socket, replaces one that dies, and passes SIGTERM on (each lets its
requests in flight finish). They only read the index: Chroma allows one writing process per
directory (a second corrupts its HNSW graph silently), so `/v1/documents` answers 409 and
documents are added with `ragloom index`, whose commits each process sees on its next query.
Limits (`max_in_flight`, the query threads) apply per process; `/metrics` adds up all of them.

Example::

    ragloom serve -c examples/hybrid.yaml --index-dir idx --processes 2
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from ragloom.rag import RAG
from ragloom.server.metrics import MULTIPROCESS_ENV
from ragloom.server.run import uvicorn_options
from ragloom.server.settings import ServerSettings

#: How the supervisor tells each worker process what to serve (JSON: config, index_dir,
#: settings); the workers are fresh interpreters that import `worker_app`.
SPEC_ENV = "RAGLOOM_SERVE_PROCESS"


def serve_processes(
    config: str | Path | None,
    index_dir: str | Path | None,
    settings: ServerSettings,
    log_level: str = "info",
) -> None:
    """Serve with `settings.processes` worker processes until SIGTERM or Ctrl-C."""
    spec = {
        "config": str(config) if config is not None else None,
        "index_dir": str(index_dir) if index_dir is not None else None,
        "settings": settings.model_dump(mode="json"),
    }
    threads = max(1, (os.cpu_count() or 1) // settings.processes)
    with tempfile.TemporaryDirectory(prefix="ragloom-metrics-") as metrics_dir:
        os.environ[SPEC_ENV] = json.dumps(spec)
        os.environ[MULTIPROCESS_ENV] = metrics_dir
        # Each process's torch / ONNX Runtime gets its share of the cores, not all of them.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            workers=settings.processes,
            **uvicorn_options(settings, log_level),
        )


def worker_app() -> FastAPI:
    """The app one worker process serves (uvicorn calls this in each of them)."""
    from ragloom.server.app import create_app

    spec = json.loads(os.environ[SPEC_ENV])
    settings = ServerSettings(**spec["settings"])
    rag = RAG.from_file(spec["config"], spec["index_dir"], "local")  # Ray was refused
    return create_app(rag, settings)
