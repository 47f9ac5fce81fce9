"""`ragloom serve` as a real subprocess for the shutdown tests: started, waited for, cleaned up.

Example::

    with serve_process(config, index_dir) as (proc, url):
        httpx.post(f"{url}/v1/query", json={"query": "k1?"})
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import yaml

from tests.integration.conftest import CORPUS, ROOT, free_port, ragloom_cli, serve_subprocess

#: Longest the server may take to answer /readyz 200 (Ray and its replicas start slowly on
#: a 2-core machine); a safety net, not a measure of speed.
READY_LIMIT_S = 300.0


HASHING_HYBRID = ROOT / "tests" / "integration" / "configs" / "hashing-hybrid.yaml"


def hashing_served(folder: Path, serve: dict[str, object]) -> tuple[Path, Path, Path]:
    """(a hashing-hybrid config with the `serve:` block `serve`, its index of a copy of the
    example corpus, that copy) under `folder`: a server setup with no model to load."""
    import shutil

    corpus = folder / "corpus"
    shutil.copytree(CORPUS, corpus)
    index_dir = folder / "idx"
    ragloom_cli("index", str(corpus), "-c", str(HASHING_HYBRID), "--index-dir", str(index_dir))
    config = folder / "serve.yaml"
    data = yaml.safe_load(HASHING_HYBRID.read_text(encoding="utf-8"))
    config.write_text(yaml.safe_dump({**data, "serve": serve}), encoding="utf-8")
    return config, index_dir, corpus


@contextmanager
def serve_process(
    config: Path, index_dir: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    """`ragloom serve` on a free port (`serve_subprocess`: the gate stage registered, `env`
    added), yielded with its URL once /readyz answers 200; an exit before that fails with its
    stderr. Killed on the way out if the test left it running."""
    port = free_port()
    proc = serve_subprocess(config, index_dir, port, env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_LIMIT_S
        while not _ready(url):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, f"`ragloom serve` not ready at {url}"
            time.sleep(0.05)
        yield proc, url
    finally:
        if proc.poll() is None:
            # Its worker processes too: they hold the output pipes, so waiting for the
            # output of the supervisor alone would wait for them.
            family = [proc.pid, *(p.pid for p in _children(proc.pid))]
            for pid in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.communicate()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
