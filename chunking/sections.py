"""Structure-aware chunking: cut at section (heading) boundaries, within a token budget.

A document's sections come from its loader (`sections` metadata: Markdown, HTML and DOCX
headings, a PDF's outline; see `ragloom.structure`). Each section becomes one chunk when it
fits `chunk_size` model tokens; a longer one is split like `recursive_chunker` does (paragraph,
line, sentence, word). Consecutive sections that together fit stay apart, so every chunk
holds one section and its metadata names it (`section`, `section_path`). Text before the
first heading, and a document without sections, is chunked the same way as one piece.

Example YAML::

    chunker:
      type: section_chunker
      init_parameters: {chunk_size: 256, tokenizer: minilm}
"""

from __future__ import annotations

import bisect
from itertools import pairwise
from typing import Annotated, Any

from pydantic import Field

from ragloom.chunking.base import TokenizedChunker
from ragloom.chunking.recursive import recursive_spans
from ragloom.chunking.spans import tile
from ragloom.models import DEFAULT_ENCODER
from ragloom.registry import register
from ragloom.structure import SECTIONS
from ragloom.types import Document


def section_cuts(sections: list[Any], length: int) -> list[int]:
    """Where sections start and end in a text of `length` characters, in order."""
    cuts = {0, length}
    for start, end, _ in sections:
        cuts.update((min(start, length), min(end, length)))
    return sorted(cuts)


def section_spans(
    text: str, sections: list[Any], token_starts: list[int], chunk_size: int
) -> list[tuple[int, int]]:
    """Spans tiling `text`: cut at every section boundary, then each piece over `chunk_size`
    tokens (token start offsets given) cut by `recursive_spans`."""
    cuts = section_cuts(sections, len(text))
    spans: list[tuple[int, int]] = []
    for a, b in pairwise(cuts):
        if not text[a:b].strip():
            continue
        first, last = bisect.bisect_left(token_starts, a), bisect.bisect_left(token_starts, b)
        inner = [s - a for s in token_starts[first:last]]
        spans.extend((a + s, a + e) for s, e in recursive_spans(text[a:b], inner, chunk_size))
    return tile(text, [start for start, _ in spans])


@register("section_chunker")
class SectionChunker(TokenizedChunker):
    """Chunks at heading/section boundaries, each chunk within `chunk_size` tokens."""

    def __init__(
        self,
        chunk_size: Annotated[int, Field(gt=0)] = 256,
        tokenizer: str = DEFAULT_ENCODER,
    ):
        self.chunk_size = chunk_size
        self.tokenizer = tokenizer

    def spans_of(self, doc: Document, encoding: Any) -> list[tuple[int, int]]:
        starts = [start for start, _ in encoding.offsets]
        return section_spans(doc.text, doc.metadata.get(SECTIONS) or [], starts, self.chunk_size)
