"""Sentence splitting on exact spans, and the `sentence_chunker` stage (n sentences per chunk).

The splitter is rule-based and model-free: a sentence ends at `.`, `!`, `?` or `…` (plus closing
quotes and brackets) followed by whitespace, at a CJK full stop, exclamation or question mark,
or at a blank line. It does not split after common abbreviations ("e.g.", "Dr.", "et al."),
single-letter initials, or before a lowercase word, and decimals ("3.14") never split because
no space follows the point. The whitespace after a sentence belongs to it, so the sentences
tile the text.

Example YAML::

    chunker:
      type: sentence_chunker
      init_parameters: {sentences_per_chunk: 3, overlap: 1}
"""

from __future__ import annotations

from typing import Annotated

import regex
from pydantic import Field

from ragloom.chunking.base import Chunker
from ragloom.chunking.spans import tile
from ragloom.errors import ComponentConfigError, Problem
from ragloom.registry import register
from ragloom.types import Document

_END = regex.compile(
    r"""(?P<latin>[.!?\u2026]+)["'\u201d\u2019)\]\u00bb]*(?=\s|$)
      | (?P<cjk>[\u3002\uff01\uff1f\uff61]+)[\u300d\u300f\uff09\u201d\u2019]*
      | (?P<para>\n[^\S\n]*\n)""",
    regex.VERBOSE,
)
_SPACE = regex.compile(r"\s*")
_WORD_BEFORE = regex.compile(r"(\w[\w.]*)$")
#: Lower-cased words (without their final point) after which a "." does not end a sentence.
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt vs etc e.g i.e eg ie al fig figs eq eqs ref refs no nos
    vol vols pp approx ca cf inc ltd co corp dept univ resp viz u.s u.k a.m p.m ph.d min max
    sec hr jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)


def _continues(text: str, match: regex.Match[str]) -> bool:
    """True when a Latin terminator does not end the sentence (abbreviation, initial, lowercase)."""
    rest = _SPACE.match(text, match.end())
    after = rest.end() if rest else match.end()
    if after < len(text) and text[after].islower():
        return True
    if match.group("latin") != ".":
        return False
    word = _WORD_BEFORE.search(text, max(0, match.start() - 24), match.start())
    if word is None:
        return False
    token = word.group(1).lower()
    return token in ABBREVIATIONS or (len(token) == 1 and word.group(1).isupper())


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of `text`, tiling it in order (none for a blank text)."""
    cuts = []
    for match in _END.finditer(text):
        if match.group("latin") and _continues(text, match):
            continue
        rest = _SPACE.match(text, match.end())
        cuts.append(rest.end() if rest else match.end())
    return tile(text, cuts)


def group_spans(spans: list[tuple[int, int]], size: int, overlap: int = 0) -> list[tuple[int, int]]:
    """Spans of consecutive groups of `size` spans, each sharing `overlap` with the previous."""
    groups = []
    step = size - overlap
    for first in range(0, len(spans), step):
        last = min(first + size, len(spans)) - 1
        groups.append((spans[first][0], spans[last][1]))
        if last == len(spans) - 1:
            break
    return groups


@register("sentence_chunker")
class SentenceChunker(Chunker):
    """Groups `sentences_per_chunk` consecutive sentences per chunk, overlapping by `overlap`."""

    def __init__(
        self,
        sentences_per_chunk: Annotated[int, Field(gt=0)] = 3,
        overlap: Annotated[int, Field(ge=0)] = 0,
    ):
        if overlap >= sentences_per_chunk:
            raise ComponentConfigError(
                Problem(
                    f"sentence_chunker: overlap ({overlap}) must be smaller than "
                    f"sentences_per_chunk ({sentences_per_chunk})",
                    field="overlap",
                )
            )
        self.sentences_per_chunk = sentences_per_chunk
        self.overlap = overlap

    def spans(self, doc: Document) -> list[tuple[int, int]]:
        return group_spans(split_sentences(doc.text), self.sentences_per_chunk, self.overlap)
