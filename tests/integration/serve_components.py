"""A generator stage for the Ray Serve tests, registered on import as `server_test_words`.

It is the real `llm_generator` stage (citations, the stream handler) around a backend that
needs no model: it answers with the first words of the first passage, one word a piece, and
cites it, so a streamed answer has many pieces. Ray Serve replicas import this module by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ragloom.generation.base import Message, TextGenerator
from ragloom.generation.generator import LLMGenerator
from ragloom.registry import register

#: Words of the first passage the answer repeats.
WORDS = 12


class FirstPassageWords(TextGenerator):
    """Streams the first WORDS words of passage [1] in the prompt, one piece a word, then [1]."""

    name = "words"

    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        if "explode" in messages[-1]["content"]:
            raise ValueError("the words backend does not answer questions that explode")
        found = re.search(r"\[1\] (.*)", messages[-1]["content"], re.DOTALL)
        words = found.group(1).split()[:WORDS] if found else ["no", "passage"]
        for word in words:
            yield word + " "
        yield "[1]"


@register("server_test_words")
class WordsGenerator(LLMGenerator):
    """`llm_generator` with the FirstPassageWords backend (no model to load)."""

    def build_generator(self) -> TextGenerator:
        return FirstPassageWords()
