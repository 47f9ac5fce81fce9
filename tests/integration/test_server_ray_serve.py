"""`ragloom serve` on Ray Serve: one Serve instance for the module, real HTTP on 127.0.0.1.

The app (the FastAPI ingress plus a deployment for the query encoder and one for the generator)
serves a BM25 + hashing-Chroma index of the example corpus. The generator is the real
`llm_generator` stage around a backend without a model (tests/integration/serve_components.py)
that answers word by word, so a streamed answer must arrive as many chunks.
"""

from __future__ import annotations

import copy
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import tests.integration.serve_components  # noqa: F401  (registers server_test_words)
from ragloom.config import config_from_dict
from ragloom.rag import RAG
from ragloom.server.app import create_app
from ragloom.server.settings import ServerSettings
from tests.integration.conftest import RunningServer, free_port
from tests.integration.serve_process import serve_process
from tests.integration.test_server_protection import held

QUESTION = "What do k1 and b control?"
#: Concurrent requests of the batching test; the encoder's batch waits up to BATCH_WAIT_S for
#: them, far longer than they take to arrive, so they share batches without any timing guess.
CLIENTS = 8
BATCH_WAIT_S = 2.0


def generating_config(data: dict) -> dict:
    """`server_config`'s pipelines with a prompt builder and the word-by-word generator in
    place of the extractive answerer."""
    data = copy.deepcopy(data)
    query = data["query"]
    del query["components"]["answerer"]
    query["components"]["prompt"] = {
        "type": "prompt_builder",
        "init_parameters": {"max_passages": 3},
    }
    query["components"]["generator"] = {"type": "server_test_words"}
    query["connections"] = [c for c in query["connections"] if c["receiver"] != "answerer.hits"]
    query["connections"] += [
        {"sender": "fusion.hits", "receiver": "prompt.hits"},
        {"sender": "prompt.messages", "receiver": "generator.messages"},
        {"sender": "prompt.hits", "receiver": "generator.hits"},
    ]
    query["inputs"]["query"] = ["gate.query", "prompt.question"]
    query["outputs"]["answer"] = "generator.answer"
    return data


@pytest.fixture(scope="module")
def config(served_index: tuple[Path, Path, dict]) -> tuple[Path, dict]:
    _, index_dir, data = served_index
    return index_dir, generating_config(data)


@pytest.fixture(scope="module")
def on_serve(ray_cluster: str, config: tuple[Path, dict]) -> Iterator[str]:
    """The app deployed on Ray Serve twice, side by side as a benchmark would: batched (app
    `ragloom` at /) and without `@serve.batch` (app `plain` at /plain); yields the base URL."""
    from ray import serve

    from ragloom.server.ray_serve import deploy, start_serve

    index_dir, data = config
    batching = {"max_batch_size": CLIENTS, "batch_wait_timeout_s": BATCH_WAIT_S}
    settings = ServerSettings(port=free_port(), workers=CLIENTS, ray={"batching": batching})
    unbatched = {"app_name": "plain", "route_prefix": "/plain", "batching": {"enabled": False}}
    plain = ServerSettings(port=settings.port, workers=CLIENTS, ray=unbatched)
    start_serve(settings)
    try:
        for each in (settings, plain):
            deploy(RAG(config_from_dict(data), index_dir=index_dir), each)
        base_url = f"http://127.0.0.1:{settings.port}"
        for prefix in ("", "/plain"):
            ready = httpx.get(f"{base_url}{prefix}/readyz", timeout=60)
            assert ready.status_code == 200, ready.text
        yield base_url
    finally:
        serve.shutdown()


def test_deployments_are_the_heavy_stages(on_serve: str) -> None:
    from ray import serve

    for app in ("ragloom", "plain"):
        status = serve.status().applications[app]
        assert set(status.deployments) == {"ragloom_ingress", "query_encoder", "generator"}


def test_streamed_answer_arrives_piece_by_piece(on_serve: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{on_serve}/v1", api_key="unused", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="ragloom", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 5, pieces  # one chunk per generated word, not the answer whole
    assert "".join(pieces).endswith("[1]")
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    assert final.model_extra is not None
    extension: dict[str, Any] = final.model_extra["ragloom"]
    assert extension["citations"] and extension["citations"][0]["passage"] == 1
    assert {"query_encoder", "generator", "total"} <= set(extension["timings"])


def test_a_deployed_stage_failing_is_an_error_naming_it(on_serve: str) -> None:
    """The generator's ValueError crosses Serve as the stage's failure: 422, one line, named."""
    messages = [{"role": "user", "content": "explode: what is BM25?"}]
    for stream in (False, True):
        body = {"model": "ragloom", "messages": messages, "stream": stream}
        reply = httpx.post(f"{on_serve}/v1/chat/completions", json=body, timeout=60)
        assert reply.status_code == 422, reply.text
        message = reply.json()["error"]["message"]
        assert "generator" in message and "does not answer questions that explode" in message
        assert "\n" not in message


def test_retrieve_matches_the_local_server(on_serve: str, config: tuple[Path, dict]) -> None:
    index_dir, data = config
    body = {"query": QUESTION, "top_k": 4}
    batched = httpx.post(f"{on_serve}/v1/retrieve", json=body, timeout=60)
    plain = httpx.post(f"{on_serve}/plain/v1/retrieve", json=body, timeout=60)
    local_app = create_app(RAG(config_from_dict(data), index_dir=index_dir), ServerSettings())
    with RunningServer(local_app) as local:
        here = httpx.post(f"{local.base_url}/v1/retrieve", json=body, timeout=60)
    assert batched.status_code == plain.status_code == here.status_code == 200
    assert batched.json()["hits"] == plain.json()["hits"] == here.json()["hits"]
    assert len(here.json()["hits"]) == 4


def test_query_encoder_batches_concurrent_requests(on_serve: str) -> None:
    from ray import serve

    encoder = serve.get_deployment_handle("query_encoder", app_name="ragloom")
    seen = len(encoder.stats.remote().result(timeout_s=60)["batch_sizes"])
    questions = [f"{QUESTION} ({n})" for n in range(CLIENTS)]

    def ask(question: str) -> int:
        body = {"query": question, "top_k": 3}
        return httpx.post(f"{on_serve}/v1/retrieve", json=body, timeout=60).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        assert list(pool.map(ask, questions)) == [200] * CLIENTS
    batches = encoder.stats.remote().result(timeout_s=60)["batch_sizes"][seen:]
    assert sum(batches) == CLIENTS
    assert max(batches) > 1, batches


def test_requests_past_max_in_flight_get_429_at_once(
    on_serve: str, served_index: tuple[Path, Path, dict]
) -> None:
    """With max_in_flight requests held in the ingress's pipeline, every further request
    reaches the app (INGRESS_OVERFLOW) and gets 429 with Retry-After at once, never a 5xx or
    a wait in Serve's proxy; the held ones then succeed."""
    from ray import serve

    from ragloom.server.ray_serve import deploy

    gate, index_dir, data = served_index
    limit, extra = 2, 6
    ray = {"app_name": "tight", "route_prefix": "/tight"}
    settings = ServerSettings(workers=limit, max_in_flight=limit, retry_after_s=7, ray=ray)
    deploy(RAG(config_from_dict(data), index_dir=index_dir), settings)
    url = f"{on_serve}/tight/v1"

    def post(path: str, question: str) -> httpx.Response:
        return httpx.post(f"{url}/{path}", json={"query": question}, timeout=60)

    try:
        with ThreadPoolExecutor(limit + extra) as pool, held(gate):
            admitted = [pool.submit(post, "retrieve", f"hold {n} BM25") for n in range(limit)]
            wait_held(gate, limit)
            paths = ["retrieve", "query"] * (extra // 2)
            refused = list(pool.map(lambda path: post(path, "What is BM25?"), paths))
            assert httpx.get(f"{on_serve}/tight/healthz", timeout=60).status_code == 200
        for reply in refused:
            assert reply.status_code == 429, reply.text
            assert reply.headers["retry-after"] == "7"
            assert reply.json()["error"]["type"] == "rate_limit_error"
            assert f"too many requests in flight ({limit}" in reply.json()["error"]["message"]
        for future in admitted:
            reply = future.result(timeout=60)
            assert reply.status_code == 200, reply.text
            assert reply.json()["hits"]
        assert post("retrieve", "What is BM25?").status_code == 200  # the slots are free again
    finally:
        serve.delete("tight")


def wait_held(gate: Path, count: int) -> None:
    """Until `count` held requests are inside the pipeline (the gate's lines in `entered`)."""
    entered = gate / "entered"
    for _ in range(6000):
        if entered.exists() and len(entered.read_text().splitlines()) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{count} held requests never reached the gate")


def test_cli_serves_on_ray_serve_until_sigterm(
    served_index: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    """`serve: {executor: ray}` in the YAML: a Ray of its own, the app on Ray Serve; SIGTERM
    shuts Serve and that Ray down and the command exits 0."""
    _, index_dir, data = served_index
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump({**data, "serve": {"executor": "ray"}}))
    # A fresh local Ray, never the test session's.
    with serve_process(config, index_dir, env={"RAY_ADDRESS": ""}) as (proc, url):
        answer = httpx.post(f"{url}/v1/query", json={"query": QUESTION}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["citations"]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert "on Ray Serve at" in stderr
