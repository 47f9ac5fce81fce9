"""The conversation before a question: in the prompt in order, bounded (oldest turns dropped
first), system messages after ragloom's own, passed by RAG.query and the chat endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ragloom.config import config_from_dict
from ragloom.generation.base import Message
from ragloom.generation.history import check_history, fit_history
from ragloom.generation.prompt import PromptBuilder
from ragloom.rag import RAG
from ragloom.server.chat import conversation
from ragloom.server.openai_schema import ChatRequest
from ragloom.types import Chunk, Document, Hit

TEMPLATE = "Passages:\n{context}\n\nQuestion: {question}"
HISTORY: list[Message] = [
    {"role": "user", "content": "What is BM25?"},
    {"role": "assistant", "content": "A ranking function [1]."},
    {"role": "system", "content": "Answer in French."},
    {"role": "user", "content": "Who wrote it?"},
    {"role": "assistant", "content": "Robertson and others."},
]


def _hits() -> list[Hit]:
    doc = Document(text="BM25 has two parameters, k1 and b.", id="bm25")
    return [Hit(Chunk.from_span(doc, 0, len(doc.text), 0), 1.0)]


def test_earlier_turns_come_in_order_before_the_question() -> None:
    builder = PromptBuilder(system_template="Cite passages.", user_template=TEMPLATE)
    out = builder.run("And k1?", _hits(), history=HISTORY)
    assert [m["role"] for m in out["messages"]] == ["system", *["user", "assistant"] * 2, "user"]
    assert out["messages"][0]["content"] == "Cite passages.\n\nAnswer in French."
    assert out["messages"][1:-1] == [m for m in HISTORY if m["role"] != "system"]
    assert out["messages"][-1]["content"].endswith("Question: And k1?")
    prompt = out["prompt"]
    said = ["Cite passages.", "What is BM25?", "A ranking function", "Who wrote it?", "Robertson"]
    positions = [prompt.index(text) for text in [*said, "[1] BM25 has", "And k1?"]]
    assert positions == sorted(positions)


def test_without_history_the_prompt_is_one_turn() -> None:
    builder = PromptBuilder(user_template=TEMPLATE)
    plain = builder.run("And k1?", _hits())
    assert builder.run("And k1?", _hits(), history=[]) == plain
    assert (
        PromptBuilder(user_template=TEMPLATE, max_history_tokens=0).run(
            "And k1?", _hits(), history=HISTORY
        )
        == plain
    )  # a budget of 0 ignores history


def test_the_oldest_turns_are_dropped_beyond_the_budget() -> None:
    roles = ["user", "assistant"] * 4
    turns = [{"role": role, "content": f"turn {n} " + "x " * 6} for n, role in enumerate(roles)]
    cost = 8 + 4  # whitespace words (the builder's count without a tokenizer) + role markers
    fitted = fit_history(turns, 3 * cost, lambda text: len(text.split()))
    # Three fit, but the oldest of them would be an assistant turn answering a dropped question.
    assert [m["content"].split()[1] for m in fitted.turns] == ["6", "7"]
    assert fitted.dropped == 6
    builder = PromptBuilder(user_template=TEMPLATE, max_history_tokens=4 * cost)
    out = builder.run("q", _hits(), history=turns)
    assert out["messages"][:-1] == turns[4:]  # the newest four, in order


def test_system_messages_are_kept_and_counted_first() -> None:
    history = [*HISTORY, {"role": "system", "content": "Be brief."}]
    fitted = fit_history(history, 13, lambda text: len(text.split()))
    assert fitted.system == ["Answer in French.", "Be brief."]
    assert fitted.turns == []  # 3 + 2 words + 2 x 4 overhead leave no room for a turn
    too_long = r"system messages are too long: 13 tokens, the limit is 12"
    with pytest.raises(ValueError, match=too_long):
        fit_history(history, 12, lambda text: len(text.split()))


@pytest.mark.parametrize(
    "history,reason",
    [
        ("hi", r"history must be a list of messages, got str"),
        ([{"role": "tool", "content": "x"}], r"history\[0\]: role 'tool' is not one of system"),
        ([{"role": "user", "content": "a"}, ["user", "b"]], r"history\[1\] must be a"),
        ([{"role": "user", "content": None}], r"history\[0\]: content must be text"),
    ],
)
def test_a_malformed_history_is_refused_naming_the_item(history: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_history(history)


def test_the_chat_endpoint_passes_the_earlier_messages() -> None:
    request = ChatRequest.model_validate(
        {
            "model": "ragloom",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is BM25?"}]},
                {"role": "assistant", "content": None, "tool_calls": []},
                {"role": "tool", "content": "42", "tool_call_id": "t"},
                {"role": "assistant", "content": "A ranking function."},
                {"role": "user", "content": "And k1?"},
            ],
        }
    )
    assert conversation(request) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is BM25?"},
        {"role": "assistant", "content": "A ranking function."},
    ]


def _config(with_history: bool) -> dict[str, Any]:
    """BM25 over files; the query pipeline's prompt builder takes `history` or not."""
    inputs: dict[str, list[str]] = {"query": ["bm25.query", "prompt.question"]}
    if with_history:
        inputs["history"] = ["prompt.history"]
    return {
        "indexing": {
            "components": {
                "loader": {"type": "file_loader"},
                "chunker": {"type": "sentence_chunker"},
                "writer": {"type": "bm25_writer"},
            },
            "connections": [
                {"sender": "loader.documents", "receiver": "chunker.documents"},
                {"sender": "chunker.chunks", "receiver": "writer.chunks"},
            ],
            "inputs": {"paths": ["loader.paths"]},
        },
        "query": {
            "components": {
                "bm25": {"type": "bm25_retriever"},
                "prompt": {"type": "prompt_builder"},
            },
            "connections": [{"sender": "bm25.hits", "receiver": "prompt.hits"}],
            "inputs": inputs,
            "outputs": {"hits": "bm25.hits", "prompt": "prompt.prompt"},
        },
    }


def test_rag_query_passes_history_and_a_pipeline_without_it_ignores_it(tmp_path: Path) -> None:
    (tmp_path / "bm25.md").write_text("BM25 has two parameters, k1 and b.", encoding="utf-8")
    history: list[Message] = [{"role": "user", "content": "Tell me about ranking."}]
    prompts = {}
    for with_history in (True, False):
        rag = RAG(config_from_dict(_config(with_history)), index_dir=tmp_path / f"i{with_history}")
        rag.index([tmp_path / "bm25.md"])
        result = rag.query("What does k1 do?", history=history)
        assert len(result.hits) == 1
        assert result.to_dict()["prompt"] == result.prompt
        prompts[with_history] = result.prompt
    assert prompts[True] is not None and prompts[False] is not None
    assert prompts[True].index("Tell me about ranking.") < prompts[True].index("What does k1")
    assert "Tell me about ranking." not in prompts[False]
