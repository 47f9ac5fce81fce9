"""The LLM generator stage: chat messages and numbered hits in, a cited Answer out.

Backends: `local` (a transformers causal LM in-process, default the bundled SmolLM2-135M-Instruct)
and `openai` (any OpenAI-compatible endpoint: vLLM, Ollama, llama.cpp server, hosted APIs; the
API key comes from the environment variable named by `api_key_env`, never from YAML); each
backend takes only its own settings (`BACKEND_FIELDS`). Any langchain-core chat model fits
through `LLMGenerator.from_generator(LangChainChatGenerator(m))`, in-process only: such a stage
cannot be serialised (`to_dict` says so), so it cannot run on Ray actors.
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


#: Settings that belong to one backend; the others apply to every backend. A setting of the
#: other backend is a config error naming it; left out (None), the backend's default applies.
BACKEND_FIELDS: dict[str, tuple[str, ...]] = {
    "local": ("device", "dtype"),
    "openai": ("base_url", "api_key_env", "timeout", "retries"),
}


@register("llm_generator")
class LLMGenerator(Component):
    """Generates a cited answer from a prompt's messages with a local or remote chat model.

    `backend: local` takes `device` (default auto: CUDA when present) and `dtype` (default auto);
    `backend: openai` takes `base_url` (required), `api_key_env`, `timeout` (default 60 s) and
    `retries` (default 2). A setting of the other backend is an error naming it.
    """

    def __init__(
        self,
        backend: Literal["local", "openai"] = "local",
        model: str = DEFAULT_GENERATOR,
        max_new_tokens: Annotated[int, Field(gt=0)] = 256,
        temperature: Annotated[float, Field(ge=0)] = 0.0,
        stop: list[str] | None = None,
        device: str | None = None,
        dtype: Literal["auto", "float32", "bfloat16", "float16"] | None = None,
        base_url: str | None = None,
        api_key_env: str | None = None,
        timeout: Annotated[float, Field(gt=0)] | None = None,
        retries: Annotated[int, Field(ge=0)] | None = None,
        answer_without_context: bool = False,
        infer_citations: bool = True,
    ):
        given: dict[str, Any] = {"device": device, "dtype": dtype, "base_url": base_url}
        given.update({"api_key_env": api_key_env, "timeout": timeout, "retries": retries})
        problems = [
            Problem(
                f"llm_generator: parameter {name!r} is a setting of backend {owner!r}, "
                f"not of backend {backend!r} (which takes {', '.join(BACKEND_FIELDS[backend])})",
                field=name,
            )
            for owner, names in BACKEND_FIELDS.items()
            if owner != backend
            for name in names
            if given[name] is not None
        ]
        if backend == "openai" and not base_url:
            problems.append(
                Problem(
                    "llm_generator: backend 'openai' needs base_url (e.g. http://127.0.0.1:8000/v1)",
                    field="base_url",
                )
            )
        if problems:
            raise ComponentConfigError(problems)
        self.backend = backend
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.stop = list(stop or [])
        self.backend_settings = {
            name: given[name] for name in BACKEND_FIELDS[backend] if given[name] is not None
        }
        self.answer_without_context = answer_without_context
        self.infer_citations = infer_citations
        self._generator: TextGenerator | None = None
        self._python_generator: str | None = None  # class name of a generator given as object

    @classmethod
    def from_generator(cls, generator: TextGenerator, **settings: Any) -> LLMGenerator:
        """A stage around a TextGenerator object (e.g. a LangChain chat model); Python only.

        A generator that config can describe (`stage_parameters()`, as the local and openai
        backends do) gives a stage that round-trips through `to_dict`; any other can run only
        in this process: `to_dict` refuses it, saying so.
        """
        described = generator.stage_parameters()
        if described is None:
            stage = cls(**settings)
            stage._python_generator = type(generator).__name__
        else:
            clash = [k for k, v in settings.items() if k in described and described[k] != v]
            if clash:
                raise ComponentConfigError(
                    [
                        Problem(
                            f"llm_generator: {name}={settings[name]!r} contradicts the generator's "
                            f"{name}={described[name]!r}; leave it out",
                            field=name,
                        )
                        for name in clash
                    ]
                )
            stage = cls(**{**settings, **described})
        stage._generator = generator
        return stage

    @property
    def init_parameters(self) -> dict[str, Any]:
        """The config that rebuilds this stage; only the chosen backend's settings are listed."""
        if self._python_generator is not None:
            raise ComponentConfigError(
                Problem(
                    f"llm_generator: its generator is a Python object "
                    f"({self._python_generator}, given to LLMGenerator.from_generator), which "
                    f"cannot be written to a config nor rebuilt in another process (YAML, "
                    f"to_dict, the Ray executor). Run this pipeline with the local executor, "
                    f"or configure the generator instead (backend: local or backend: openai)",
                    field="backend",
                )
            )
        backend_fields = {name for names in BACKEND_FIELDS.values() for name in names}
        params = super().init_parameters
        return {k: v for k, v in params.items() if k not in backend_fields or v is not None}

    def __repr__(self) -> str:
        if self._python_generator is not None:
            return (
                f"LLMGenerator.from_generator({self._python_generator}(...), model={self.model!r})"
            )
        return super().__repr__()

    def build_generator(self) -> TextGenerator:
        """The backend object for this configuration (not loaded yet)."""
        common: dict[str, Any] = {
            "model": self.model,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
        }
        if self.backend == "openai":
            from ragloom.generation.openai_http import OpenAICompatibleGenerator

            settings = dict(self.backend_settings)
            base_url = str(settings.pop("base_url"))
            return OpenAICompatibleGenerator(base_url, **common, stop=self.stop or None, **settings)
        from ragloom.generation.local import LocalChatModel

        return LocalChatModel(**common, stop=self.stop, **self.backend_settings)

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
