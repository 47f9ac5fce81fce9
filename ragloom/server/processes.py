"""`ragloom serve --processes N`: N server processes answering on one port, each with its own
pipelines, for a machine with more cores than one Python process can keep busy.

One process runs Python code (fusion, HTTP, and Chroma's search, which holds the GIL) on one
core at a time, so retrieval stops scaling at about one core. A supervisor
(`ragloom.server.balancer`) accepts the connections and hands each to the worker process with
the fewest open ones, replaces a worker that dies, and passes SIGTERM on (each lets its
requests in flight finish). They only read the index: Chroma allows one writing process per
directory (a second corrupts its HNSW graph silently), so `/v1/documents` answers 409 and
documents are added with `ragloom index`, whose commits each process sees on its next query.
Limits (`max_in_flight`, the query threads) apply per process; `/metrics` adds up all of them.

Example::

    ragloom serve -c examples/hybrid.yaml --index-dir idx --processes 2
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from fastapi import FastAPI

from ragloom.errors import ConfigError
from ragloom.rag import RAG
from ragloom.server.balancer import Balancer, listening_socket
from ragloom.server.metrics import MULTIPROCESS_ENV
from ragloom.server.settings import ServerSettings

#: How the supervisor tells each worker process what to serve (JSON: config, index_dir,
#: settings, log level); the workers are fresh interpreters (`ragloom.server.worker`).
SPEC_ENV = "RAGLOOM_SERVE_PROCESS"
logger = logging.getLogger("ragloom.server")


def serve_processes(
    config: str | Path | None,
    index_dir: str | Path | None,
    settings: ServerSettings,
    log_level: str = "info",
) -> int:
    """Serve with `settings.processes` worker processes until SIGTERM or Ctrl-C; the exit
    status (1 when a worker failed to start: its error is on stderr)."""
    if not sys.platform.startswith("linux"):
        raise ConfigError(
            f"--processes needs Linux (its supervisor hands connections over sequenced-packet "
            f"Unix sockets), not {sys.platform}: serve with one process, or on Ray Serve"
        )
    spec = {
        "config": str(config) if config is not None else None,
        "index_dir": str(index_dir) if index_dir is not None else None,
        "settings": settings.model_dump(mode="json"),
        "log_level": log_level,
    }
    threads = max(1, (os.cpu_count() or 1) // settings.processes)
    listener = listening_socket(settings.host, settings.port)
    host, port = listener.getsockname()[:2]
    logger.setLevel(log_level.upper())  # the CLI sets the root logger to warnings only
    logger.info("ragloom serve on http://%s:%d with %d processes", host, port, settings.processes)
    with tempfile.TemporaryDirectory(prefix="ragloom-metrics-") as metrics_dir:
        env = {**os.environ, SPEC_ENV: json.dumps(spec), MULTIPROCESS_ENV: metrics_dir}
        # Each process's torch / ONNX Runtime gets its share of the cores, not all of them.
        env.setdefault("OMP_NUM_THREADS", str(threads))
        command = [sys.executable, "-m", "ragloom.server.worker"]
        balancer = Balancer(listener, settings.processes, command, env, settings.shutdown_timeout_s)
        return balancer.run()


class WorkerSpec(NamedTuple):
    """What one worker process serves, as the supervisor wrote it in `SPEC_ENV`."""

    config: str | None
    index_dir: str | None
    settings: ServerSettings
    log_level: str


def worker_spec() -> WorkerSpec:
    """This worker's spec, from the supervisor's environment."""
    spec = json.loads(os.environ[SPEC_ENV])
    settings = ServerSettings(**spec["settings"])
    return WorkerSpec(spec["config"], spec["index_dir"], settings, spec.get("log_level", "info"))


def worker_app(spec: WorkerSpec) -> FastAPI:
    """The app one worker process serves."""
    from ragloom.server.app import create_app

    rag = RAG.from_file(spec.config, spec.index_dir, "local")  # Ray was refused
    return create_app(rag, spec.settings)
