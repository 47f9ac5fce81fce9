"""A chat conversation reaches the bundled SmolLM2 through `ragloom serve`: the built-in
pipeline with a `prompt` output shows the prompt the generator got, the earlier turns in it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import httpx
import yaml

from ragloom.config import config_from_dict
from ragloom.rag import RAG
from ragloom.server.app import create_app
from ragloom.server.settings import ServerSettings
from tests.integration.conftest import RunningServer

CONVERSATION = [
    {"role": "system", "content": "Reply in English."},
    {"role": "user", "content": "What is BM25?"},
    {"role": "assistant", "content": "A ranking function for lexical search [1]."},
    {"role": "tool", "content": "left out", "tool_call_id": "t1"},
    {"role": "user", "content": "What do k1 and b control?"},
]


def test_earlier_messages_reach_the_local_generator(example_index: Path) -> None:
    text = resources.files("ragloom.defaults").joinpath("default.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    data["query"]["components"]["generator"]["init_parameters"]["max_new_tokens"] = 4
    data["query"]["outputs"]["prompt"] = "prompt.prompt"
    rag = RAG(config_from_dict(data), index_dir=example_index)
    with RunningServer(create_app(rag, ServerSettings())) as server:
        reply = httpx.post(
            f"{server.base_url}/v1/chat/completions",
            json={"model": "ragloom", "messages": CONVERSATION},
            timeout=300,
        )
    assert reply.status_code == 200, reply.text
    extension = reply.json()["ragloom"]
    assert extension["generator"].startswith("local:")
    assert extension["passages"] and reply.json()["choices"][0]["message"]["content"]
    prompt = extension["prompt"]
    said = [
        "System: Reply in English.",
        "Human: What is BM25?",
        "AI: A ranking function for lexical search [1].",
        "Human: Read the passages",
        "Question: What do k1 and b control?",
    ]
    assert [prompt.index(line) for line in said] == sorted(prompt.index(line) for line in said)
    assert "left out" not in prompt
    # Retrieval saw the last question alone: the passages are about k1 and b.
    assert any("k1" in passage["text"] for passage in extension["passages"])
