"""Prompt building, the extractive answerer, and LangChain chat models as generators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from ragloom.errors import ComponentConfigError
from ragloom.generation.base import LangChainChatGenerator, Message, TextGenerator
from ragloom.generation.extractive import NO_ANSWER, ExtractiveAnswerer, best_sentence
from ragloom.generation.prompt import (
    DEFAULT_SYSTEM,
    DEFAULT_USER,
    PromptBuilder,
    format_passages,
)
from ragloom.pipeline.spec import dump_yaml, parse_yaml
from ragloom.registry import get_component_class
from ragloom.types import Chunk, Document, Hit

PASSAGES = [
    "The sky is blue on a clear day. Tides are caused by the moon.",
    "Ocean tides are caused by the gravity of the moon and the sun.",
    "Volcanoes erupt when magma rises. Lava cools into rock.",
    "Tea is brewed from leaves.",
]
TEMPLATE = "Passages:\n{context}\n\nQuestion: {question}"
MESSAGES: list[Message] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello."},
]


def _hits(texts: list[str]) -> list[Hit]:
    hits = []
    for n, text in enumerate(texts):
        doc = Document(text=f"  {text}\n", id=f"doc{n}")
        chunk = Chunk.from_span(doc, 0, len(doc.text), 0)
        hits.append(Hit(chunk, score=1.0 / (n + 1)))
    return hits


# -- prompt builder ---------------------------------------------------------------------------


def _user(out: dict[str, Any]) -> str:
    """The content of the prompt's final (user) message."""
    last = out["messages"][-1]
    assert last["role"] == "user"
    return str(last["content"])


def test_prompt_has_system_then_user_message() -> None:
    question = "What causes tides?"
    builder = PromptBuilder(system_template="Cite passages.", user_template=TEMPLATE)
    out = builder.run(question=question, hits=_hits(PASSAGES[:2]))
    context = format_passages(out["hits"])
    assert out["messages"] == [
        {"role": "system", "content": "Cite passages."},
        {"role": "user", "content": TEMPLATE.format(context=context, question=question)},
    ]
    assert "Cite passages." in out["prompt"] and question in out["prompt"]


def test_default_templates_build_the_messages() -> None:
    question = "What causes tides?"
    out = PromptBuilder().run(question=question, hits=_hits(PASSAGES[:2]))
    system = [{"role": "system", "content": DEFAULT_SYSTEM}] if DEFAULT_SYSTEM else []
    user = DEFAULT_USER.format(context=format_passages(out["hits"]), question=question)
    assert out["messages"] == [*system, {"role": "user", "content": user}]


def test_an_empty_system_template_sends_no_system_message() -> None:
    out = PromptBuilder(system_template="", user_template=TEMPLATE).run(question="q", hits=[])
    assert [m["role"] for m in out["messages"]] == ["user"]


@pytest.mark.parametrize("order", ["score", "lost_in_the_middle"])
def test_passages_are_numbered_from_one_as_the_hits_output(order: str) -> None:
    hits = _hits(PASSAGES[:4])
    out = PromptBuilder(user_template=TEMPLATE, order=order).run(question="q", hits=hits)
    user = _user(out)
    assert sorted(out["hits"], key=hits.index) == hits
    texts = [hit.chunk.text.strip() for hit in out["hits"]]
    positions = [user.index(f"[{n}] {text}") for n, text in enumerate(texts, start=1)]
    assert positions == sorted(positions)
    assert "[5]" not in user
    if order == "score":
        assert out["hits"] == hits


def test_format_passages_numbers_in_the_given_order() -> None:
    assert format_passages(_hits(PASSAGES[:3])) == "\n\n".join(
        f"[{n}] {text}" for n, text in enumerate(PASSAGES[:3], start=1)
    )


def test_max_passages_cuts_the_context_and_the_hits() -> None:
    hits = _hits(PASSAGES)
    builder = PromptBuilder(user_template=TEMPLATE, max_passages=2, order="score")
    out = builder.run(question="q", hits=hits)
    assert out["hits"] == hits[:2]
    user = _user(out)
    assert "[2] " in user and "[3]" not in user
    assert PASSAGES[2] not in user and PASSAGES[3] not in user


def test_no_hits_still_builds_a_prompt() -> None:
    out = PromptBuilder(user_template=TEMPLATE).run(question="Anything?", hits=[])
    assert out["hits"] == []
    assert "Question: Anything?" in _user(out)
    assert "[1]" not in _user(out)


def test_braces_in_passages_and_question_are_kept_literally() -> None:
    hits = _hits(["A dict {'a': 1} and {y}."])
    user = _user(PromptBuilder(user_template=TEMPLATE).run(question="What is {x}?", hits=hits))
    assert "[1] A dict {'a': 1} and {y}." in user
    assert "Question: What is {x}?" in user


def test_custom_templates_are_used() -> None:
    builder = PromptBuilder(
        system_template="Answer in French.", user_template="Q={question} C={context}"
    )
    out = builder.run(question="why", hits=_hits(["because"]))
    assert out["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Q=why C=[1] because"},
    ]


@pytest.mark.parametrize("missing", ["{context}", "{question}"])
def test_user_template_without_a_variable_is_a_config_error(missing: str) -> None:
    template = "Passages: {context} Question: {question}".replace(missing, "")
    with pytest.raises(ComponentConfigError) as info:
        PromptBuilder(user_template=template)
    assert [p.field for p in info.value.problems] == ["user_template"]
    assert missing in str(info.value) and "user_template" in str(info.value)


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("user_template", {"user_template": "{context} {question} {extra}"}),
        ("system_template", {"system_template": 'Reply as JSON {"answer": "..."}'}),
    ],
)
def test_unknown_template_variable_is_a_config_error(field: str, params: dict[str, str]) -> None:
    with pytest.raises(ComponentConfigError) as info:
        PromptBuilder(**params)
    assert field in str(info.value)


@pytest.mark.parametrize("max_passages", [0, -1])
def test_max_passages_must_be_positive(max_passages: int) -> None:
    with pytest.raises(ComponentConfigError, match="max_passages"):
        PromptBuilder(max_passages=max_passages)


def test_prompt_builder_yaml_round_trip() -> None:
    builder = PromptBuilder(
        system_template="System: cite [n].\nLine two: é ü 日本",
        user_template="Context:\n{context}\n---\nQ: {question}",
        max_passages=2,
    )
    data, _ = parse_yaml(dump_yaml(builder.to_dict()))
    assert data == builder.to_dict()
    assert data["type"] == "prompt_builder"
    loaded = get_component_class(data["type"]).from_dict(data)
    assert isinstance(loaded, PromptBuilder)
    assert loaded.init_parameters == builder.init_parameters
    hits = _hits(PASSAGES)
    assert loaded.run(question="q", hits=hits) == builder.run(question="q", hits=hits)


# -- extractive answerer ----------------------------------------------------------------------


def test_extractive_answer_quotes_the_best_sentence_and_cites_its_passage() -> None:
    hits = _hits(PASSAGES)
    answer = ExtractiveAnswerer().run(question="What causes ocean tides?", hits=hits)["answer"]
    sentence = "Ocean tides are caused by the gravity of the moon and the sun."
    assert answer.text == f'"{sentence}" [2]'
    assert answer.cited == [2]
    assert answer.cited_hits == [hits[1]]
    assert answer.generator == "extractive"
    assert answer.hits == hits[:3]


def test_extractive_prefers_the_higher_ranked_passage_on_ties() -> None:
    hits = _hits(["Magma rises slowly.", "Magma rises fast."])
    answer = ExtractiveAnswerer().run(question="Why does magma rise?", hits=hits)["answer"]
    assert answer.text == '"Magma rises slowly." [1]'
    assert answer.cited_hits == [hits[0]]


def test_extractive_picks_a_later_sentence_of_a_passage() -> None:
    hits = _hits([PASSAGES[2]])
    assert best_sentence("Why does lava cool?", hits) == (1, "Lava cools into rock.")
    assert best_sentence("When does magma rise?", hits) == (1, "Volcanoes erupt when magma rises.")


def test_extractive_only_reads_max_passages() -> None:
    hits = _hits(PASSAGES)
    answer = ExtractiveAnswerer(max_passages=2).run(question="How is tea brewed?", hits=hits)
    assert answer["answer"].text == NO_ANSWER
    assert answer["answer"].hits == hits[:2]


@pytest.mark.parametrize("question", ["Who won the chess final?", "What is it?"])
def test_no_overlap_gives_the_dont_know_answer_without_citations(question: str) -> None:
    answer = ExtractiveAnswerer().run(question=question, hits=_hits(PASSAGES))["answer"]
    assert answer.text == NO_ANSWER
    assert answer.cited == [] and answer.cited_hits == []
    assert answer.generator == "extractive"


def test_no_hits_gives_the_dont_know_answer() -> None:
    answer = ExtractiveAnswerer().run(question="What causes tides?", hits=[])["answer"]
    assert (answer.text, answer.cited, answer.hits) == (NO_ANSWER, [], [])


# -- LangChain chat models --------------------------------------------------------------------


class _RecordMessages(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.seen.extend(messages)


class _ContentBlocksModel(BaseChatModel):
    """A chat model that streams content blocks (as Anthropic and OpenAI Responses models do)."""

    @property
    def _llm_type(self) -> str:
        return "content-blocks"

    def _generate(self, messages: list[BaseMessage], **kwargs: Any) -> ChatResult:
        message = AIMessage(content=[{"type": "text", "text": "Hi there"}])
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for text in ["Hi", " there"]:
            block = {"type": "text", "text": text, "index": 0}
            yield ChatGenerationChunk(message=AIMessageChunk(content=[block]))


def test_langchain_generator_streams_pieces() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Hello brave new world")]))
    generator = LangChainChatGenerator(model)
    assert isinstance(generator, TextGenerator)
    assert generator.name == "langchain"
    pieces = list(generator.stream(MESSAGES))
    assert len(pieces) > 1
    assert "".join(pieces) == "Hello brave new world"


def test_langchain_generator_generate_joins_the_stream() -> None:
    generator = LangChainChatGenerator(FakeListChatModel(responses=["Hello, world."]))
    assert generator.generate(MESSAGES) == "Hello, world."


def test_langchain_generator_sends_roles_as_chat_messages() -> None:
    recorder = _RecordMessages()
    model = FakeListChatModel(responses=["ok"], callbacks=[recorder])
    messages: list[Message] = [*MESSAGES, {"role": "assistant", "content": "Hello."}]
    assert LangChainChatGenerator(model).generate(messages) == "ok"
    (seen,) = recorder.seen
    assert [(m.type, m.content) for m in seen] == [
        ("system", "Be brief."),
        ("human", "Say hello."),
        ("ai", "Hello."),
    ]


def test_langchain_generator_reads_text_of_content_blocks() -> None:
    assert LangChainChatGenerator(_ContentBlocksModel()).generate(MESSAGES) == "Hi there"
