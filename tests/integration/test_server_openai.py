"""`ragloom serve` against real OpenAI clients: the `openai` package and LangChain's ChatOpenAI.

A real uvicorn on 127.0.0.1 serves a BM25 + Chroma (hashing encoder) index of the example
corpus with extractive answers; the clients are used exactly as against OpenAI, with only
`base_url` pointing here. Citations arrive in the `ragloom` extension field.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragloom.config import config_from_dict
from ragloom.rag import RAG
from ragloom.server.app import create_app
from ragloom.server.settings import ServerSettings
from tests.integration.conftest import ROOT, RunningServer

QUESTION = "What do k1 and b control?"


@pytest.fixture(scope="module")
def server(served_index: tuple[Path, Path, dict]) -> Iterator[RunningServer]:
    _, index_dir, data = served_index
    rag = RAG(config_from_dict(data), index_dir=index_dir)
    with RunningServer(create_app(rag, ServerSettings())) as running:
        yield running


def _check_extension(extension: dict[str, Any]) -> None:
    """Citations with exact spans into indexed documents, and the hits behind them."""
    assert extension["citations"], extension
    citation = extension["citations"][0]
    assert set(citation) >= {"passage", "doc_id", "chunk_id", "start", "end"}
    assert citation["doc_id"].endswith("bm25.md")
    passage = extension["passages"][citation["passage"] - 1]
    assert (passage["doc_id"], passage["start"], passage["end"]) == (
        citation["doc_id"],
        citation["start"],
        citation["end"],
    )
    assert extension["hits"] and {"doc_id", "chunk_id", "start", "end"} <= set(extension["hits"][0])
    assert "total" in extension["timings"]


def test_openai_client_non_streaming(server: RunningServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["ragloom"]
    reply = client.chat.completions.create(
        model="ragloom",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": QUESTION},
        ],
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"
    assert "k1" in (choice.message.content or "")
    assert reply.model_extra is not None
    _check_extension(reply.model_extra["ragloom"])


def test_openai_client_streaming(server: RunningServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="ragloom", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "k1" in text
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    assert final.model_extra is not None
    _check_extension(final.model_extra["ragloom"])
    assert all("ragloom" not in (c.model_extra or {}) for c in chunks[:-1])


def test_openai_client_sees_clear_errors(server: RunningServer) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": QUESTION}]
        )
    assert "model 'gpt-4o' does not exist" in str(caught.value)
    assert caught.value.code == "model_not_found"


def test_langchain_chat_openai_invoke_and_stream(server: RunningServer) -> None:
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model="ragloom", base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0
    )
    message = model.invoke([("human", QUESTION)])
    assert "k1" in message.text
    assert re.search(r"\[\d\]$", message.text)  # the citation marker: passage [n]
    pieces = list(model.stream(QUESTION))
    assert "".join(piece.text for piece in pieces) == message.text


def test_the_serve_client_example_runs(server: RunningServer) -> None:
    """examples/serve_client.py, run as the README shows, against the test server."""
    env = {**os.environ, "RAGLOOM_API_KEY": "unused"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "serve_client.py"), server.base_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Answer: ") and "k1" in lines[0]
    assert re.match(r"  \[\d\] .*bm25\.md \[\d+:\d+\]$", lines[1])
    assert any(line.startswith("Streamed: ") and "k1" in line for line in lines)
    assert lines[-1] == "Added notes/quokka; retrieving it finds notes/quokka"


def test_the_default_pipeline_streams_generated_tokens(example_index: Path) -> None:
    """The built-in pipeline (hybrid retrieval, the bundled SmolLM2): the answer arrives in many
    pieces as the model writes it, and the last chunk cites passages of the index."""
    from openai import OpenAI

    text = resources.files("ragloom.defaults").joinpath("default.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    data["query"]["components"]["generator"]["init_parameters"]["max_new_tokens"] = 24
    rag = RAG(config_from_dict(data), index_dir=example_index)
    with RunningServer(create_app(rag, ServerSettings())) as server:
        client = OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0)
        chunks = list(
            client.chat.completions.create(
                model="ragloom",
                messages=[{"role": "user", "content": "How does late chunking embed a chunk?"}],
                stream=True,
            )
        )
    pieces = [c.choices[0].delta.content for c in chunks[:-1] if c.choices[0].delta.content]
    assert len(pieces) > 3  # token by token, not one block at the end
    final = chunks[-1].model_extra
    assert final is not None and final["ragloom"]["generator"].startswith("local:")
    assert final["ragloom"]["passages"] and "generator" in final["ragloom"]["timings"]
