"""`serve: keep_alive_s`: how long `ragloom serve` keeps an idle connection open.

uvicorn's own 5 s closed connections under a busy server just as clients reused them (the load
benchmark's 256-client rows saw client-side ReadErrors, no status); the server now keeps them
60 s by default, and the setting reaches uvicorn.
"""

from __future__ import annotations

import http.client
import shutil
import time
from pathlib import Path

import yaml

from tests.integration.conftest import CORPUS, ROOT, ragloom_cli
from tests.integration.serve_process import serve_process

HASHING_HYBRID = ROOT / "tests" / "integration" / "configs" / "hashing-hybrid.yaml"


def answered_after_idle(url: str, idle_s: float) -> bool:
    """Whether a second request on one connection, `idle_s` after the first, is answered."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b'{"status":"ok"}'
        first = conn.sock
        time.sleep(idle_s)
        try:
            conn.request("GET", "/healthz")
            answered = conn.getresponse().status == 200
        except (http.client.HTTPException, OSError):
            return False
        return answered and conn.sock is first  # the same connection, not a new one
    finally:
        conn.close()


def test_idle_connections_stay_open_as_long_as_keep_alive_s(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    index_dir = tmp_path / "idx"
    ragloom_cli("index", str(corpus), "-c", str(HASHING_HYBRID), "--index-dir", str(index_dir))
    data = yaml.safe_load(HASHING_HYBRID.read_text(encoding="utf-8"))
    default = tmp_path / "default.yaml"
    default.write_text(yaml.safe_dump(data), encoding="utf-8")
    short = tmp_path / "short.yaml"
    short.write_text(yaml.safe_dump({**data, "serve": {"keep_alive_s": 1}}), encoding="utf-8")

    with serve_process(default, index_dir) as (_, url):
        assert answered_after_idle(url, 6.0)  # past uvicorn's own 5 s
    with serve_process(short, index_dir) as (_, url):
        assert not answered_after_idle(url, 2.5)
