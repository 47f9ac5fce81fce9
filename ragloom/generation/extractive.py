"""The offline default answerer: quotes the passage sentence that best matches the question.

It needs no language model, so `ragloom query` works on any machine; the answer is labelled
`extractive` so nobody mistakes it for generated text.

Example YAML::

    answerer:
      type: extractive_answerer
      init_parameters: {max_passages: 3}
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from ragloom.component import Component, output_types
from ragloom.registry import register
from ragloom.types import Answer, Hit

_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
STOPWORDS = frozenset(
    (
        "a an and are as at be by did do does for from has have how i in is it of on or that "
        "the this to was were what when where which who why will with you your"
    ).split()
)
NO_ANSWER = "I don't know: no passage matched the question."


def content_words(text: str) -> set[str]:
    """Lower-cased words of `text` without stopwords: what overlap measures compare."""
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def best_sentence(question: str, hits: list[Hit]) -> tuple[int, str] | None:
    """(1-based passage number, sentence) with the most question terms; earlier hits win ties."""
    wanted = content_words(question)
    best: tuple[float, int, str] | None = None
    for number, hit in enumerate(hits, start=1):
        for match in _SENTENCE.finditer(hit.chunk.text):
            sentence = match.group().strip()
            if not sentence:
                continue
            overlap = len(wanted & content_words(sentence))
            score = overlap + 1.0 / (number + 1)  # prefer the higher-ranked passage on ties
            if overlap and (best is None or score > best[0]):
                best = (score, number, sentence)
    return None if best is None else (best[1], best[2])


@register("extractive_answerer")
class ExtractiveAnswerer(Component):
    """Answers with the best-matching sentence of the top passages, cited as [n]."""

    def __init__(self, max_passages: Annotated[int, Field(gt=0)] = 3):
        self.max_passages = max_passages

    @output_types(answer=Answer)
    def run(self, question: str, hits: list[Hit]) -> dict[str, Any]:
        used = hits[: self.max_passages]
        found = best_sentence(question, used)
        if found is None:
            return {"answer": Answer(text=NO_ANSWER, hits=used, generator="extractive")}
        number, sentence = found
        text = f'"{sentence}" [{number}]'
        return {"answer": Answer(text=text, hits=used, cited=[number], generator="extractive")}
