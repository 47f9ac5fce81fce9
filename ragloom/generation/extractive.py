"""The offline default answerer: quotes the passage sentence that best matches the question.

It needs no language model, so `ragloom query` works on any machine; the answer is labelled
`extractive` so nobody mistakes it for generated text.

Example YAML::

    answerer:
      type: extractive_answerer
      init_parameters: {max_passages: 3}
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import Field

from ragloom.chunking.sentences import split_sentences
from ragloom.component import Component, output_types
from ragloom.registry import register
from ragloom.retrievers.bm25_scoring import Tokenizer
from ragloom.types import Answer, Hit

#: Words that phrase a question without naming what it asks about, ignored beside BM25's
#: English stopwords so that "What" or "does" in a question never matches a sentence.
QUESTION_WORDS = frozenset(
    "did do does from has have how i were what when where which who why you your".split()
)
NO_ANSWER = "I don't know: no passage matched the question."


@cache
def _english() -> Tokenizer:
    """BM25's tokenizer with its English stopwords (built on first use: it imports bm25s)."""
    return Tokenizer(stopwords="en")


def content_words(text: str) -> set[str]:
    """Lower-cased words of `text` without BM25's English stopwords and `QUESTION_WORDS`: what
    overlap measures compare."""
    return set(_english()(text)) - QUESTION_WORDS


def _sentences(text: str) -> list[str]:
    """The sentences of `text` (the sentence chunker's), one line at most: a quote never holds a
    line break, so a heading or list item above a sentence is not quoted with it."""
    pieces = (text[start:end].split("\n") for start, end in split_sentences(text))
    return [line.strip() for lines in pieces for line in lines if line.strip()]


def best_sentence(question: str, hits: list[Hit]) -> tuple[int, str] | None:
    """(1-based passage number, sentence) with the most question terms; earlier hits win ties."""
    wanted = content_words(question)
    best: tuple[float, int, str] | None = None
    for number, hit in enumerate(hits, start=1):
        for sentence in _sentences(hit.chunk.text):
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
