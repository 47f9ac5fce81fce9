"""`ragloom serve`'s protections over real HTTP: API keys, the in-flight bound (429 with
Retry-After), the per-request timeout (504), and readiness before any index exists.

A request is held inside the query pipeline by the gate stage (tests/integration/server_gate.py)
for as long as a test needs, so each check is deterministic, not timed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ragloom.config import config_from_dict
from ragloom.rag import RAG
from ragloom.server.app import create_app
from ragloom.server.settings import ServerSettings
from tests.integration.conftest import RunningServer, server_config

KEY = "sk-ragloom-test-key-0123456789"


def _rag(served_index: tuple[Path, Path, dict]) -> RAG:
    _, index_dir, data = served_index
    return RAG(config_from_dict(data), index_dir=index_dir)


@contextmanager
def held(gate: Path) -> Iterator[None]:
    """Questions starting with "hold" wait in the pipeline until this block ends."""
    for name in ("entered", "release"):
        (gate / name).unlink(missing_ok=True)
    try:
        yield
    finally:
        (gate / "release").touch()


def wait_entered(gate: Path) -> None:
    """Until a held request is inside the pipeline."""
    for _ in range(6000):
        if (gate / "entered").exists():
            return
        time.sleep(0.01)
    raise AssertionError("the held request never reached the gate")


def test_api_keys_from_file_and_environment(
    served_index: tuple[Path, Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# ops team\n{KEY}\n\n", encoding="utf-8")
    monkeypatch.setenv("RAGLOOM_API_KEYS", "sk-from-env, sk-other")
    settings = ServerSettings(api_keys_file=keys)
    with RunningServer(create_app(_rag(served_index), settings)) as server:
        url = f"{server.base_url}/v1/retrieve"
        body = {"query": "BM25"}
        missing = httpx.post(url, json=body)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["message"].startswith("missing API key")
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer sk-wrong"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == {
            "message": "invalid API key",
            "type": "authentication_error",
            "code": "invalid_api_key",
            "param": None,
        }
        assert "sk-wrong" not in wrong.text
        for key in (KEY, "sk-from-env", "sk-other"):
            ok = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200, ok.text
        assert httpx.get(f"{server.base_url}/metrics").status_code == 401
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200  # probes need no key
        assert httpx.get(f"{server.base_url}/readyz").status_code == 200


def test_requests_beyond_the_in_flight_bound_get_429_with_retry_after(
    served_index: tuple[Path, Path, dict],
) -> None:
    gate = served_index[0]
    settings = ServerSettings(max_in_flight=1, retry_after_s=3)
    with RunningServer(create_app(_rag(served_index), settings)) as server:
        answers: list[httpx.Response] = []
        with held(gate):
            first = threading.Thread(
                target=lambda: answers.append(
                    httpx.post(
                        f"{server.base_url}/v1/query", json={"query": "hold k1 and b"}, timeout=60
                    )
                )
            )
            first.start()
            wait_entered(gate)
            second = httpx.post(f"{server.base_url}/v1/retrieve", json={"query": "BM25"})
            assert second.status_code == 429
            assert second.headers["retry-after"] == "3"
            assert second.json()["error"]["type"] == "rate_limit_error"
            assert "too many requests in flight (1" in second.json()["error"]["message"]
            assert httpx.get(f"{server.base_url}/healthz").status_code == 200  # not bounded
        first.join(timeout=60)
        assert answers[0].status_code == 200, answers[0].text
        assert "k1" in answers[0].json()["answer"]
        after = httpx.post(f"{server.base_url}/v1/retrieve", json={"query": "BM25"})
        assert after.status_code == 200  # the slot is free again
        metrics = httpx.get(f"{server.base_url}/metrics").text
        assert 'ragloom_request_errors_total{endpoint="/v1/retrieve",status="429"} 1.0' in metrics


def test_an_update_waits_for_the_queries_reading_the_index(
    served_index: tuple[Path, Path, dict],
) -> None:
    gate = served_index[0]
    app = create_app(_rag(served_index), ServerSettings())
    lock = app.state.service.lock
    doc = {"id": "rw/axolotl", "text": "Axolotls regrow their limbs and their hearts."}
    with RunningServer(app) as server:
        url = server.base_url
        answers: dict[str, httpx.Response] = {}

        def post(name: str, path: str, body: dict) -> threading.Thread:
            def send() -> None:
                answers[name] = httpx.post(f"{url}{path}", json=body, timeout=60)

            thread = threading.Thread(target=send)
            thread.start()
            return thread

        with held(gate):
            query = post("query", "/v1/retrieve", {"query": "hold axolotl limbs"})
            wait_entered(gate)
            update = post("update", "/v1/documents", {"documents": [doc]})
            for _ in range(6000):  # until the update waits for the query's read lock
                if lock.writers_waiting:
                    break
                time.sleep(0.01)
            assert lock.writers_waiting == 1
        query.join(timeout=60)
        update.join(timeout=60)
        assert answers["update"].status_code == 200, answers["update"].text
        # The query that held the index saw it whole as it was, without the new document ...
        assert all(h["doc_id"] != doc["id"] for h in answers["query"].json()["hits"])
        # ... and the next one sees it whole with it.
        hits = httpx.post(f"{url}/v1/retrieve", json={"query": "axolotl limbs"}).json()["hits"]
        assert hits[0]["doc_id"] == doc["id"]


def test_a_request_past_its_timeout_gets_504(served_index: tuple[Path, Path, dict]) -> None:
    gate = served_index[0]
    settings = ServerSettings(request_timeout_s=0.2)
    with RunningServer(create_app(_rag(served_index), settings)) as server, held(gate):
        response = httpx.post(f"{server.base_url}/v1/query", json={"query": "hold on"}, timeout=60)
        assert response.status_code == 504
        assert response.json()["error"]["message"] == (
            "the request took longer than 0.2 s (the server's request_timeout_s)"
        )
        hold = [{"role": "user", "content": "hold"}]
        chat = {"model": "ragloom", "stream": True, "messages": hold}
        streamed = httpx.post(f"{server.base_url}/v1/chat/completions", json=chat, timeout=60)
        assert streamed.status_code == 504


def test_not_ready_without_an_index_until_documents_arrive(tmp_path: Path) -> None:
    import tests.integration.server_gate  # noqa: F401  (registers server_test_gate)

    (tmp_path / "gate").mkdir()
    rag = RAG(config_from_dict(server_config(tmp_path / "gate")), index_dir=tmp_path / "index")
    app = create_app(rag, ServerSettings())
    server = RunningServer(app)
    server.thread.start()
    try:
        for _ in range(3000):
            try:
                health = httpx.get(f"{server.base_url}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.02)
        assert health.status_code == 200
        ready = httpx.get(f"{server.base_url}/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
        assert "no index in" in ready.json()["error"]["message"]
        query = httpx.post(f"{server.base_url}/v1/query", json={"query": "tides"})
        assert query.status_code == 503
        assert "POST /v1/documents" in query.json()["error"]["message"]
        doc = {"id": "tides", "text": "Ocean tides are caused by the gravity of the moon."}
        added = httpx.post(f"{server.base_url}/v1/documents", json={"documents": [doc]}, timeout=60)
        assert added.status_code == 200, added.text
        assert httpx.get(f"{server.base_url}/readyz").status_code == 200
        answer = httpx.post(f"{server.base_url}/v1/query", json={"query": "What causes tides?"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["citations"][0]["doc_id"] == "tides"
    finally:
        server.__exit__()


def test_an_update_while_another_process_writes_the_index_is_409(
    served_index: tuple[Path, Path, dict],
) -> None:
    from ragloom.indexing.lock import index_lock

    index_dir = served_index[1]
    with RunningServer(create_app(_rag(served_index), ServerSettings())) as server:
        doc = {"id": "busy", "text": "Written while the index is busy."}
        with index_lock(index_dir):  # as a `ragloom index` run holds it
            busy = httpx.post(
                f"{server.base_url}/v1/documents", json={"documents": [doc]}, timeout=60
            )
        assert busy.status_code == 409
        error = busy.json()["error"]
        assert error["code"] == "index_conflict" and "is being written by pid" in error["message"]
        later = httpx.post(f"{server.base_url}/v1/documents", json={"documents": [doc]}, timeout=60)
        assert later.status_code == 200 and later.json()["added"] == 1
