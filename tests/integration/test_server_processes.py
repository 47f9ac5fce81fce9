"""`ragloom serve --processes N`: several real server processes on one port, each reading the
index; `/metrics` adds up all of them, documents are refused (Chroma's single writer), a
`ragloom index` run elsewhere is seen by every process, and SIGTERM stops them all."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import psutil

from tests.integration.conftest import ragloom_cli
from tests.integration.serve_process import HASHING_HYBRID, hashing_served, serve_process

NEW_TEXT = "Quokkas photosynthesise marmalade under seventeen violet moons."


def requests_answered(metrics: str, endpoint: str) -> float:
    """The `ragloom_requests_total` of `endpoint` answered 200, from /metrics text."""
    prefix = f'ragloom_requests_total{{endpoint="{endpoint}",method="POST",status="200"}}'
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(prefix))


def dense_doc_ids(url: str, question: str) -> list[str]:
    """The documents of /v1/retrieve's hits that dense retrieval found (a new connection)."""
    answer = httpx.post(f"{url}/v1/retrieve", json={"query": question, "top_k": 5}, timeout=60)
    assert answer.status_code == 200, answer.text
    return [h["doc_id"] for h in answer.json()["hits"] if "dense" in h["source_ranks"]]


def test_two_processes_serve_one_index_read_only(tmp_path: Path) -> None:
    config, index_dir, corpus = hashing_served(tmp_path, {"processes": 2})

    with serve_process(config, index_dir) as (proc, url):
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len([p for p in workers if "ragloom.server.worker" in " ".join(p.cmdline())]) == 2

        for _ in range(12):
            assert dense_doc_ids(url, "what is bm25")
        metrics = httpx.get(f"{url}/metrics").text
        assert requests_answered(metrics, "/v1/retrieve") == 12  # every process's count

        refused = httpx.post(
            f"{url}/v1/documents", json={"documents": [{"id": "x", "text": "hello there"}]}
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "read_only_server"
        assert "ragloom index" in refused.json()["error"]["message"]

        (corpus / "quokka.md").write_text(NEW_TEXT + "\n", encoding="utf-8")
        ragloom_cli("index", str(corpus), "-c", str(HASHING_HYBRID), "--index-dir", str(index_dir))
        for _ in range(8):  # each request on a new connection: both processes answer some
            assert dense_doc_ids(url, NEW_TEXT)[0] == "corpus/quokka.md"

        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        _, alive = psutil.wait_procs(workers, timeout=30)  # a helper may take a moment
        assert not alive


def test_processes_with_the_ray_executor_is_a_one_line_error(tmp_path: Path) -> None:
    proc = ragloom_cli(
        "serve",
        "-c",
        str(HASHING_HYBRID),
        "--index-dir",
        str(tmp_path / "idx"),
        "--processes",
        "2",
        "--executor",
        "ray",
        check=False,
    )
    assert proc.returncode != 0
    assert "--processes is for the local executor" in proc.stderr
    assert "Traceback" not in proc.stderr
