"""`ragloom serve`'s own endpoints over real HTTP: query, retrieve, documents, health, metrics,
and every way a request can be wrong (each a 4xx with OpenAI's error body, never a traceback).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragloom.config import config_from_dict
from ragloom.rag import RAG
from ragloom.server.app import create_app
from ragloom.server.settings import ServerSettings
from tests.integration.conftest import RunningServer

QUESTION = "What do k1 and b control?"
LIMITS = ServerSettings(max_body_bytes=20_000, max_question_chars=300, max_top_k=50)


@pytest.fixture(scope="module")
def server(served_index: tuple[Path, Path, dict]) -> Iterator[RunningServer]:
    _, index_dir, data = served_index
    rag = RAG(config_from_dict(data), index_dir=index_dir)
    with RunningServer(create_app(rag, LIMITS)) as running:
        yield running


def _error(response: httpx.Response, status: int) -> str:
    """The one-line message of an OpenAI-shaped error body with `status`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) >= {"message", "type", "code"}
    message = body["error"]["message"]
    assert "Traceback" not in response.text and "\n" not in message
    return message


def test_query_prints_what_ragloom_query_json_prints(server: RunningServer) -> None:
    response = httpx.post(f"{server.base_url}/v1/query", json={"query": QUESTION, "top_k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "answer",
        "hits",
        "timings",
        "generator",
        "passages",
        "citations",
        "citations_inferred",
    }
    assert "k1" in body["answer"] and body["generator"] == "extractive"
    assert len(body["hits"]) == 3
    assert body["citations"][0]["doc_id"].endswith("bm25.md")
    assert {"gate", "bm25", "dense", "fusion", "answerer"} <= set(body["timings"])


def test_retrieve_runs_no_answer_stage(server: RunningServer) -> None:
    response = httpx.post(f"{server.base_url}/v1/retrieve", json={"query": QUESTION, "top_k": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"hits", "timings"}
    assert len(body["hits"]) == 2 and body["hits"][0]["doc_id"].endswith("bm25.md")
    assert "answerer" not in body["timings"] and "bm25" in body["timings"]


def test_documents_added_then_deleted_are_seen_by_retrieval(server: RunningServer) -> None:
    url = server.base_url
    doc = {
        "id": "api/quokka",
        "text": "Quokkas are small marsupials that live on Rottnest Island.",
        "metadata": {"topic": "animals", "year": 2024},
    }
    added = httpx.post(f"{url}/v1/documents", json={"documents": [doc]}, timeout=60)
    assert added.status_code == 200, added.text
    assert added.json()["added"] == 1
    again = httpx.post(f"{url}/v1/documents", json={"documents": [doc]}, timeout=60)
    assert again.json()["unchanged"] == 1  # the same content: nothing rewritten
    hits = httpx.post(f"{url}/v1/retrieve", json={"query": "quokka Rottnest"}).json()["hits"]
    assert hits[0]["doc_id"] == "api/quokka" and hits[0]["metadata"]["topic"] == "animals"
    start, end = hits[0]["start"], hits[0]["end"]
    assert doc["text"][start:end] == hits[0]["text"]

    changed = {**doc, "text": "Quokkas smile. They are marsupials of Rottnest Island."}
    updated = httpx.post(f"{url}/v1/documents", json={"documents": [changed]}, timeout=60)
    assert updated.json()["updated"] == 1
    hits = httpx.post(f"{url}/v1/retrieve", json={"query": "quokka smile"}).json()["hits"]
    assert [h["text"] for h in hits if h["doc_id"] == "api/quokka"] == [changed["text"]]

    deleted = httpx.delete(f"{url}/v1/documents/api/quokka", timeout=60)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"] == 1
    hits = httpx.post(f"{url}/v1/retrieve", json={"query": "quokka Rottnest"}).json()["hits"]
    assert all(h["doc_id"] != "api/quokka" for h in hits)
    gone = httpx.delete(f"{url}/v1/documents/api/quokka", timeout=60)
    assert _error(gone, 404) == "no document 'api/quokka' in the index"


def test_health_readiness_and_docs(server: RunningServer) -> None:
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    spec = httpx.get(f"{server.base_url}/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/query", "/v1/retrieve", "/v1/documents"} <= set(
        spec["paths"]
    )


def test_metrics_count_requests_and_time_endpoints_and_stages(server: RunningServer) -> None:
    httpx.post(f"{server.base_url}/v1/retrieve", json={"query": QUESTION})
    httpx.post(f"{server.base_url}/v1/retrieve", json={"query": 3})
    response = httpx.get(f"{server.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'ragloom_requests_total{endpoint="/v1/retrieve",method="POST",status="200"}' in text
    assert 'ragloom_request_errors_total{endpoint="/v1/retrieve",status="422"}' in text
    assert 'ragloom_request_duration_seconds_bucket{endpoint="/v1/retrieve",le="0.5"}' in text
    assert 'ragloom_stage_duration_seconds_count{pipeline="retrieve",stage="bm25"}' in text


CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": QUESTION}]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (CHAT, b'{"model": "ragloom", "messages": [', 422, "the request body is not valid JSON"),
        (CHAT, b"[1, 2]", 422, "the request body must be a JSON object"),
        (CHAT, {"model": "ragloom", "messages": []}, 422, "messages: List should have at least"),
        (CHAT, {"model": "ragloom"}, 422, "messages: required field missing"),
        (CHAT, {"model": 7, "messages": USER}, 422, "model: Input should be a valid string"),
        (
            CHAT,
            {"model": "ragloom", "messages": USER, "stream": "yes"},
            422,
            "stream: Input should be a valid boolean",
        ),
        (
            CHAT,
            {"model": "ragloom", "messages": [{"role": "user", "content": 5}]},
            422,
            "messages[0].content",
        ),
        (
            CHAT,
            {"model": "ragloom", "messages": [{"role": "assistant", "content": "Hi"}]},
            422,
            "the last message must be a user message",
        ),
        (
            CHAT,
            {"model": "ragloom", "messages": [{"role": "user", "content": "  "}]},
            422,
            "the last message must be a user message holding the question",
        ),
        (CHAT, {"model": "gpt-4o", "messages": USER}, 404, "model 'gpt-4o' does not exist"),
        (
            CHAT,
            {"model": "ragloom", "messages": [{"role": "user", "content": "why? " * 100}]},
            413,
            "the question is too long: 499 characters, the limit is 300",
        ),
        ("/v1/query", {"query": ""}, 422, "query: String should have at least 1 character"),
        ("/v1/query", {"query": QUESTION, "top_k": "5"}, 422, "top_k: Input should be"),
        ("/v1/query", {"query": QUESTION, "top_k": 0}, 422, "top_k: Input should be greater"),
        ("/v1/retrieve", {"query": QUESTION, "top_k": 500}, 422, "top_k: 500 is over the limit"),
        ("/v1/query", {"question": QUESTION}, 422, "query: required field missing"),
        ("/v1/documents", {"documents": [{"id": "x"}]}, 422, "documents[0].text: required"),
        (
            "/v1/documents",
            {"documents": [{"id": "x", "text": "t", "metadata": {"a": [1]}}]},
            422,
            "documents[0].metadata.a",
        ),
        (
            "/v1/documents",
            {"documents": [{"id": "x", "text": "t"}, {"id": "x", "text": "u"}]},
            422,
            "documents: id 'x' is given twice",
        ),
        ("/v1/nothing", {}, 404, "no such endpoint: POST /v1/nothing"),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    server: RunningServer, path: str, body: Any, status: int, message: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        f"{server.base_url}{path}",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert message in _error(response, status)


def test_oversized_body_is_413_by_length_and_by_stream(server: RunningServer) -> None:
    big = {"model": "ragloom", "messages": [{"role": "user", "content": "x" * 30_000}]}
    response = httpx.post(f"{server.base_url}{CHAT}", json=big)
    assert "the request body is too large (30" in _error(response, 413)

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"model": "ragloom", "messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}]}'

    response = httpx.post(
        f"{server.base_url}{CHAT}", content=chunked(), headers={"Content-Type": "application/json"}
    )
    assert "the limit is 20000 bytes" in _error(response, 413)


def test_warm_pipelines_are_kept_out_of_garbage_collections(server: RunningServer) -> None:
    """Once ready, the models and stores are frozen: a full collection no longer walks them
    (it held the GIL for 300-370 ms per run on the SciFact index, the loaded server's p99)."""
    import gc

    assert httpx.get(f"{server.base_url}/readyz").status_code == 200
    service = server.server.config.app.state.service
    components = list(service.rag.config.query.components.values())
    assert components
    tracked = {id(o) for o in gc.get_objects()}  # every generation but the frozen one
    assert not [c for c in components if id(c) in tracked]
