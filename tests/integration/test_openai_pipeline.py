"""examples/openai-endpoint.yaml end to end against a local chat-completions server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT
from tests.integration.test_openai_generator import (  # noqa: F401  (fixture re-used)
    PIECES,
    ChatServer,
    chat_server,
    closed_port,
)

EXAMPLE = ROOT / "examples" / "openai-endpoint.yaml"
KEY = "sk-pipeline-test-not-real"


def _config(tmp_path: Path, base_url: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "http://127.0.0.1:8000/v1" in text
    path = tmp_path / "endpoint.yaml"
    path.write_text(text.replace("http://127.0.0.1:8000/v1", base_url), encoding="utf-8")
    return path


def _query(config: Path, index: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": KEY, "RAGLOOM_PROGRESS": "0"}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(var, None)
    cli = Path(sys.executable).parent / "ragloom"
    return subprocess.run(
        [
            str(cli),
            "query",
            "What is the capital?",
            "-c",
            str(config),
            "--index-dir",
            str(index),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_streams_the_endpoint_answer_and_sends_the_key(
    chat_server: ChatServer,  # noqa: F811
    example_index: Path,
    tmp_path: Path,
) -> None:
    chat_server.reset()
    proc = _query(_config(tmp_path, chat_server.base_url), example_index)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Answer: " + "".join(PIECES))
    assert "(openai:Qwen/Qwen2.5-1.5B-Instruct)" in proc.stdout
    (request,) = chat_server.requests
    assert request.body["stream"] is True
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert "[1]" in request.body["messages"][-1]["content"]
    assert KEY not in proc.stdout + proc.stderr


def test_cli_json_answer_from_the_endpoint(
    chat_server: ChatServer,  # noqa: F811
    example_index: Path,
    tmp_path: Path,
) -> None:
    chat_server.reset()
    proc = _query(_config(tmp_path, chat_server.base_url), example_index, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["answer"] == "".join(PIECES)
    assert result["generator"] == "openai:Qwen/Qwen2.5-1.5B-Instruct"


@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_unreachable_endpoint_is_a_message_not_a_trace(
    example_index: Path, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc = _query(_config(tmp_path, url), example_index, *extra)
    assert proc.returncode != 0
    assert url in proc.stderr
    assert "Traceback" not in proc.stderr
