"""The generator interface every backend fits: a local model, an HTTP endpoint, a LangChain model.

A backend turns chat messages into text, whole or streamed. Pipeline stages wrap a backend; the
backend itself holds no pipeline knowledge, so the same one serves the SDK and the CLI.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


class TextGenerator(ABC):
    """Chat messages in, text out; `stream` yields pieces as they are produced."""

    name: str = "generator"

    @abstractmethod
    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        """Yield the answer piece by piece."""

    def generate(self, messages: list[Message], **options: Any) -> str:
        """The whole answer at once."""
        return "".join(self.stream(messages, **options))

    def stage_parameters(self) -> dict[str, Any] | None:
        """The `llm_generator` parameters that rebuild this backend from config, if any.

        None means it exists only as a Python object (e.g. a LangChain chat model): a stage
        around it runs in this process but cannot be written to YAML or rebuilt on a Ray actor.
        """
        return None


class LangChainChatGenerator(TextGenerator):
    """Any langchain-core `BaseChatModel` as a ragloom generator (SDK use)."""

    name = "langchain"

    def __init__(self, model: Any):
        self.model = model

    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        from langchain_core.messages import BaseMessage

        for piece in self.model.stream([(m["role"], m["content"]) for m in messages], **options):
            # `.text` joins content blocks; `.content` may be a list of them.
            text = piece.text if isinstance(piece, BaseMessage) else str(piece)
            if text:
                yield text
