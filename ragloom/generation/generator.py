"""The LLM generator stage: chat messages and numbered hits in, a cited Answer out.

Backends: `local` (a transformers causal LM in-process, default the bundled SmolLM2-135M-Instruct)
and `openai` (any OpenAI-compatible endpoint: vLLM, Ollama, llama.cpp server, hosted APIs; the
API key comes from the environment variable named by `api_key_env`, never from YAML). Any
langchain-core chat model fits through `LLMGenerator.from_generator(LangChainChatGenerator(m))`.
Text is streamed to the run's stream handler (see `ragloom.generation.streaming`) as it comes.

Example YAML::

    generator:
      type: llm_generator
      init_parameters: {backend: local, model: smollm2-135m-instruct, max_new_tokens: 128}
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field

from ragloom.component import Component, output_types
from ragloom.errors import ComponentConfigError, Problem
from ragloom.generation.base import TextGenerator
from ragloom.generation.extractive import content_words
from ragloom.generation.streaming import current_stream_handler
from ragloom.models import DEFAULT_GENERATOR
from ragloom.registry import register
from ragloom.types import Answer, Hit

NO_CONTEXT_ANSWER = "I don't know: no passage was relevant enough to answer from."
_CITATION = re.compile(r"\[(\d+)\]")


def infer_citation(text: str, hits: list[Hit], min_overlap: float = 0.5) -> list[int]:
    """The passage sharing most content words with an uncited answer, if it shares enough.

    Small models often answer from a passage without writing `[n]`; this names the passage the
    words came from, and the Answer says the citation was inferred.
    """
    words = content_words(text)
    if not words:
        return []
    overlaps = [len(words & content_words(hit.chunk.text)) / len(words) for hit in hits]
    best = max(range(len(hits)), key=lambda i: (overlaps[i], -i), default=None)
    return [best + 1] if best is not None and overlaps[best] >= min_overlap else []


def parse_citations(text: str, passages: int) -> list[int]:
    """Passage numbers cited as `[n]` in `text`, first-seen order, only those that exist."""
    cited: list[int] = []
    for match in _CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= passages and number not in cited:
            cited.append(number)
    return cited


@register("llm_generator")
class LLMGenerator(Component):
    """Generates a cited answer from a prompt's messages with a local or remote chat model."""

    def __init__(
        self,
        backend: Literal["local", "openai"] = "local",
        model: str = DEFAULT_GENERATOR,
        max_new_tokens: Annotated[int, Field(gt=0)] = 256,
        temperature: Annotated[float, Field(ge=0)] = 0.0,
        stop: list[str] | None = None,
        device: str = "auto",
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto",
        base_url: str | None = None,
        api_key_env: str | None = None,
        timeout: Annotated[float, Field(gt=0)] = 60.0,
        retries: Annotated[int, Field(ge=0)] = 2,
        answer_without_context: bool = False,
        infer_citations: bool = True,
    ):
        if backend == "openai" and not base_url:
            raise ComponentConfigError(
                Problem(
                    "llm_generator: backend 'openai' needs base_url (e.g. http://127.0.0.1:8000/v1)",
                    field="base_url",
                )
            )
        self.backend = backend
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.stop = list(stop or [])
        self.device = device
        self.dtype = dtype
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.retries = retries
        self.answer_without_context = answer_without_context
        self.infer_citations = infer_citations
        self._generator: TextGenerator | None = None

    @classmethod
    def from_generator(cls, generator: TextGenerator, **settings: Any) -> LLMGenerator:
        """A stage around any TextGenerator object (e.g. a LangChain chat model); Python only."""
        stage = cls(**settings)
        stage._generator = generator
        stage._init_parameters["backend"] = f"python:{type(generator).__name__}"
        return stage

    def build_generator(self) -> TextGenerator:
        """The backend object for this configuration (not loaded yet)."""
        if self.backend == "openai":
            from ragloom.generation.openai_http import OpenAICompatibleGenerator

            return OpenAICompatibleGenerator(
                base_url=str(self.base_url),
                model=self.model,
                api_key_env=self.api_key_env,
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
                stop=self.stop or None,
                timeout=self.timeout,
                retries=self.retries,
            )
        from ragloom.generation.local import LocalChatModel

        return LocalChatModel(
            self.model,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            stop=self.stop,
            device=self.device,
            dtype=self.dtype,
        )

    @property
    def generator(self) -> TextGenerator:
        if self._generator is None:
            self._generator = self.build_generator()
        return self._generator

    def warm_up(self) -> None:
        load = getattr(self.generator, "load", None)
        if callable(load):
            load()

    @output_types(answer=Answer)
    def run(self, messages: list[dict[str, str]], hits: list[Hit]) -> dict[str, Any]:
        label = f"{self.generator.name}:{self.model}"
        if not hits and not self.answer_without_context:
            return {"answer": Answer(text=NO_CONTEXT_ANSWER, hits=[], generator=label)}
        handler = current_stream_handler()
        pieces = []
        for piece in self.generator.stream(messages):
            pieces.append(piece)
            if handler is not None:
                handler(piece)
        text = "".join(pieces).strip()
        cited = parse_citations(text, len(hits))
        inferred = not cited and self.infer_citations
        if inferred:
            cited = infer_citation(text, hits)
        answer = Answer(
            text=text,
            hits=hits,
            cited=cited,
            generator=label,
            citations_inferred=inferred and bool(cited),
        )
        return {"answer": answer}
