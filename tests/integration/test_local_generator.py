"""The bundled SmolLM2 as a local generator: streaming, stop strings, budgets, the SDK stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragloom.generation.local import LocalChatModel
from ragloom.generation.prompt import PromptBuilder
from ragloom.rag import RAG, QueryResult
from ragloom.types import Chunk, Document, Hit
from tests.integration.conftest import ROOT

QUESTION = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def llm() -> LocalChatModel:
    model = LocalChatModel(max_new_tokens=12)
    model.load()
    return model


def test_stream_yields_pieces_that_join_to_the_whole_answer(llm: LocalChatModel) -> None:
    pieces = list(llm.stream(QUESTION))
    assert len(pieces) > 1
    assert "".join(pieces) == llm.generate(QUESTION)  # greedy: deterministic


def test_stop_string_ends_generation_early(llm: LocalChatModel) -> None:
    full = llm.generate(QUESTION, max_new_tokens=24)
    stop = full.split()[2]
    cut = llm.generate(QUESTION, max_new_tokens=24, stop=[stop])
    assert stop not in cut
    assert full.startswith(cut)


def test_token_budget_uses_the_generator_tokenizer(llm: LocalChatModel) -> None:
    assert llm.count_tokens("hello world") == 2
    builder = PromptBuilder(token_budget=120, tokenizer="smollm2-135m-instruct", max_passages=5)
    text = (ROOT / "examples" / "corpus" / "late-chunking.md").read_text(encoding="utf-8")
    doc = Document(text, id="late")
    hits = [Hit(Chunk.from_span(doc, 0, len(text), 0), 1.0)]
    shown = builder.run("What is late chunking?", hits)["hits"]
    assert len(shown) == 1 and len(shown[0].chunk.text) < len(text)
    assert text[shown[0].chunk.start : shown[0].chunk.end] == shown[0].chunk.text
    prompt_tokens = llm.count_tokens(builder.run("What is late chunking?", hits)["prompt"])
    assert prompt_tokens <= 120 + 8  # the chat frame adds a few role markers
    tiny = PromptBuilder(token_budget=40, tokenizer="smollm2-135m-instruct")
    with pytest.raises(ValueError, match="token_budget 40 leaves"):
        tiny.run("What is late chunking?", hits)


def test_a_long_question_names_its_length_in_generator_tokens() -> None:
    builder = PromptBuilder(token_budget=1024, tokenizer="smollm2-135m-instruct")  # the default's
    question = ("why is the sky blue " * 5000)[:100_000]
    with pytest.raises(ValueError, match=r"question is too long: \d+ tokens, the limit is 512"):
        builder.run(question, [])


def test_sdk_stream_yields_text_then_the_result(example_index: Path) -> None:
    rag = RAG(index_dir=example_index)
    items = list(rag.stream("What is reciprocal rank fusion?"))
    *pieces, result = items
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert isinstance(result, QueryResult)
    assert "".join(pieces).strip() == result.answer.text
