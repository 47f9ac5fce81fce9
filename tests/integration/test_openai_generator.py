"""OpenAICompatibleGenerator against a real local HTTP server speaking chat completions + SSE."""

from __future__ import annotations

import json
import logging
import pickle
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ragloom.errors import ConfigError, RagloomError
from ragloom.generation.base import TextGenerator
from ragloom.generation.openai_http import GeneratorError, OpenAICompatibleGenerator

PIECES = ["Paris", " is", " the", " capital", " of France."]
SECRET = "sk-test-7f3a9c-do-not-leak"
KEY_ENV = "RAGLOOM_TEST_LLM_KEY"
MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is the capital of France?"},
]


@dataclass
class Reply:
    """One scripted answer: a status with a JSON/text body, an SSE stream, or no answer at all."""

    status: int = 200
    body: Any = None  # dict -> JSON, str -> sent as is
    events: list[str] | None = None  # raw SSE `data:` payloads
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class Seen:
    """A request as the server received it."""

    path: str
    headers: Message  # case-insensitive, as HTTP header names are
    body: dict[str, Any]


class ChatServer:
    """Shared state of the test server: scripted replies in, recorded requests out."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Seen] = []
        self.script: list[Reply] = []
        self.release = threading.Event()
        self.unblocked = threading.Event()  # set when a hanging request stops waiting
        self.base_url = ""

    def reset(self, *replies: Reply) -> None:
        """Forget past requests and answer the next ones with `replies`, then normally."""
        with self.lock:
            self.requests.clear()
            self.script = list(replies)
        self.release.clear()
        self.unblocked.clear()

    def take(self, seen: Seen) -> Reply | None:
        with self.lock:
            self.requests.append(seen)
            return self.script.pop(0) if self.script else None


def _chunk(content: str | None, role: bool = False) -> str:
    delta: dict[str, str] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    return json.dumps(
        {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
    )


def default_reply(streaming: bool) -> Reply:
    """A well-behaved server: the same answer, whole or as several SSE chunks."""
    if not streaming:
        message = {"role": "assistant", "content": "".join(PIECES)}
        body = {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}
        return Reply(body=body)
    usage = json.dumps({"choices": [], "usage": {"completion_tokens": len(PIECES)}})
    return Reply(events=[_chunk(None, role=True), *map(_chunk, PIECES), usage, "[DONE]"])


class Handler(BaseHTTPRequestHandler):
    """Speaks just enough of POST /v1/chat/completions for the generator."""

    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.loads(raw or b"{}")
        chat: ChatServer = self.server.chat
        reply = chat.take(Seen(self.path, self.headers, body))
        if self.path != "/v1/chat/completions":
            reply = Reply(status=404, body={"error": {"message": f"no route {self.path}"}})
        reply = reply or default_reply(bool(body.get("stream")))
        if reply.hang:
            chat.release.wait(30.0)  # bounded: never outlives the test by much
            chat.unblocked.set()
            return
        if reply.events is not None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            self.wfile.write(b": keep-alive comment\n\n")
            for event in reply.events:
                self.wfile.write(f"data: {event}\n\n".encode())
                self.wfile.flush()
            return
        payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        data = payload.encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """One threaded HTTP server on 127.0.0.1 (free port) for the whole module."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    chat = ChatServer()
    httpd.chat = chat  # type: ignore[attr-defined]
    chat.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield chat
    finally:
        chat.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server(chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    """The shared server, reset for this test; proxies disabled so loopback stays loopback."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(KEY_ENV, SECRET)
    chat_server.reset()
    yield chat_server
    chat_server.release.set()


def make(server: ChatServer, **settings: Any) -> OpenAICompatibleGenerator:
    """A generator pointed at the test server with fast test defaults."""
    config: dict[str, Any] = {"model": "test-model", "timeout": 5.0}
    config.update(settings)
    return OpenAICompatibleGenerator(base_url=server.base_url, **config)


def busy(status: int, body: Any) -> Reply:
    """A retryable error that asks for a 1 ms wait (`retry-after-ms`, as OpenAI's API sends)."""
    return Reply(status=status, body=body, headers={"retry-after-ms": "1"})


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_is_a_text_generator() -> None:
    gen = OpenAICompatibleGenerator(base_url="http://127.0.0.1:1/v1/", model="m")
    assert isinstance(gen, TextGenerator) and gen.name == "openai"
    assert gen.url == "http://127.0.0.1:1/v1/chat/completions"
    assert issubclass(GeneratorError, RagloomError)


def test_generate_non_streaming(server: ChatServer) -> None:
    assert make(server).generate(MESSAGES) == "Paris is the capital of France."
    (seen,) = server.requests
    assert seen.path == "/v1/chat/completions" and seen.body["stream"] is False


def test_a_used_generator_pickles_and_still_works(server: ChatServer) -> None:
    gen = make(server, api_key_env=KEY_ENV)
    gen.generate(MESSAGES)  # builds the SDK client, which does not pickle
    data = pickle.dumps(gen)
    assert SECRET.encode() not in data
    assert pickle.loads(data).generate(MESSAGES) == "".join(PIECES)


def test_stream_yields_pieces_in_order(server: ChatServer) -> None:
    gen = make(server)
    pieces = list(gen.stream(MESSAGES))
    assert pieces == PIECES
    assert server.requests[-1].body["stream"] is True
    assert server.requests[-1].headers["Accept"] == "text/event-stream"
    assert gen.generate(MESSAGES) == "".join(pieces)


def test_request_body_carries_settings(server: ChatServer) -> None:
    gen = make(server, max_new_tokens=42, temperature=0.7, stop=["\n\n", "END"])
    gen.generate(MESSAGES)
    list(gen.stream(MESSAGES, temperature=0.1, top_p=0.9))
    first, second = (seen.body for seen in server.requests)
    assert first["model"] == "test-model" and first["messages"] == MESSAGES
    assert first["max_tokens"] == 42 and first["temperature"] == 0.7
    assert first["stop"] == ["\n\n", "END"]
    assert second["temperature"] == 0.1 and second["top_p"] == 0.9  # per-call options win
    assert second["max_tokens"] == 42


def test_api_key_sent_but_never_exposed(
    server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    gen = make(server, api_key_env=KEY_ENV, extra_headers={"X-Team": "rag"})
    gen.generate(MESSAGES)
    assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert server.requests[0].headers["X-Team"] == "rag"
    assert SECRET not in repr(gen) and SECRET not in str(vars(gen))
    leak = {"error": {"message": f"Incorrect API key provided: {SECRET}"}}
    server.reset(busy(503, leak), Reply(status=401, body=leak))
    with caplog.at_level(logging.DEBUG), pytest.raises(GeneratorError) as err:
        make(server, api_key_env=KEY_ENV, retries=1).generate(MESSAGES)
    assert "HTTP 401" in str(err.value) and "Incorrect API key provided" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in caplog.text
    assert len(server.requests) == 2


def test_no_authorization_without_key_env(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ambient-must-stay-home")  # the SDK's fallback
    make(server).generate(MESSAGES)
    list(make(server).stream(MESSAGES))
    assert all("Authorization" not in seen.headers for seen in server.requests)
    assert len(server.requests) == 2


def test_missing_env_var_names_the_variable(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    gen = make(server, api_key_env=KEY_ENV)
    for call in (gen.generate, gen.stream):
        with pytest.raises(GeneratorError, match=KEY_ENV):
            call(MESSAGES)
    assert server.requests == []


def test_key_pasted_as_env_name_is_rejected_without_echo() -> None:
    with pytest.raises(ConfigError) as err:
        OpenAICompatibleGenerator("http://127.0.0.1:1/v1", "m", api_key_env=SECRET)
    assert "api_key_env" in str(err.value) and SECRET not in str(err.value)


def test_server_errors_are_retried(server: ChatServer) -> None:
    boom = {"error": {"message": "overloaded"}}
    server.reset(busy(500, boom), busy(500, boom))
    assert make(server, retries=2).generate(MESSAGES) == "".join(PIECES)
    assert len(server.requests) == 3
    server.reset(busy(502, "bad gateway"), busy(503, boom))
    assert list(make(server, retries=2).stream(MESSAGES)) == PIECES
    assert len(server.requests) == 3


def test_server_errors_exhaust_retries(server: ChatServer) -> None:
    server.reset(*[busy(500, {"error": {"message": "still down"}})] * 3)
    with pytest.raises(GeneratorError, match=r"HTTP 500.*still down.*after 3 attempts"):
        make(server, retries=2).generate(MESSAGES)
    assert len(server.requests) == 3


def test_client_error_is_not_retried(server: ChatServer) -> None:
    detail = "model 'test-model' does not support max_tokens=42 " + "x" * 2000
    server.reset(Reply(status=400, body={"error": {"message": detail}}))
    with pytest.raises(GeneratorError) as err:
        make(server, retries=3).generate(MESSAGES)
    message = str(err.value)
    assert "HTTP 400" in message and "does not support max_tokens=42" in message
    assert len(message) < 600  # the body is truncated
    assert len(server.requests) == 1


def test_rate_limit_is_retried(server: ChatServer) -> None:
    limited = Reply(
        status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "0"}
    )
    server.reset(limited)
    assert make(server, retries=1).generate(MESSAGES) == "".join(PIECES)
    assert len(server.requests) == 2


def test_timeout_when_server_never_answers(server: ChatServer) -> None:
    for call in ("generate", "stream"):
        server.reset(Reply(hang=True))
        gen = make(server, timeout=0.5, retries=0)
        with pytest.raises(GeneratorError, match=r"within 0\.5 s") as err:
            list(getattr(gen, call)(MESSAGES)) if call == "stream" else gen.generate(MESSAGES)
        # The client gave up while the server was still holding the request: the timeout
        # fired, not the server's own bound (which would end the request, then set this).
        assert not server.unblocked.is_set()
        assert server.base_url in str(err.value)
        server.release.set()
        assert server.unblocked.wait(30.0)


def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    gen = OpenAICompatibleGenerator(url, "m", timeout=2.0, retries=1)
    with pytest.raises(GeneratorError) as err:
        gen.generate(MESSAGES)
    assert f"{url}/chat/completions" in str(err.value) and "server is running" in str(err.value)
    assert "after 2 attempts" in str(err.value)  # connect errors are retried
    with pytest.raises(GeneratorError, match="cannot reach"):
        list(gen.stream(MESSAGES))


def test_malformed_responses(server: ChatServer) -> None:
    server.reset(Reply(body="{this is not json"))
    with pytest.raises(GeneratorError, match=r"malformed response.*not JSON"):
        make(server).generate(MESSAGES)
    server.reset(Reply(body={"choices": []}))
    with pytest.raises(GeneratorError, match=r"malformed response.*choices"):
        make(server).generate(MESSAGES)
    server.reset(Reply(events=[_chunk("ok"), "{broken", "[DONE]"]))
    with pytest.raises(GeneratorError, match="malformed response"):
        list(make(server).stream(MESSAGES))
    assert len(server.requests) == 1  # malformed answers are not retried


def test_error_event_mid_stream(server: ChatServer) -> None:
    error = json.dumps({"error": {"message": "out of memory"}})
    server.reset(Reply(events=[_chunk("Par"), error]))
    pieces: list[str] = []
    with pytest.raises(GeneratorError, match="out of memory"):
        pieces.extend(make(server).stream(MESSAGES))
    assert pieces == ["Par"]


def test_server_ignoring_stream_flag_still_streams(server: ChatServer) -> None:
    server.reset(default_reply(streaming=False))
    assert list(make(server).stream(MESSAGES)) == ["".join(PIECES)]


def test_invalid_settings_fail_at_construction() -> None:
    for bad in (
        {"base_url": "127.0.0.1:8000/v1"},
        {"timeout": 0},
        {"retries": -1},
        {"max_new_tokens": 0},
        {"model": ""},
    ):
        config = {"base_url": "http://127.0.0.1:1/v1", "model": "m", **bad}
        with pytest.raises(ConfigError, match=next(iter(bad))):
            OpenAICompatibleGenerator(**config)
