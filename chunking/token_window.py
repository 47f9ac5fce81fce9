"""Token-window chunking: fixed windows of model tokens, with overlap, on exact character spans.

Example YAML::

    chunker:
      type: token_chunker
      init_parameters: {chunk_size: 128, overlap: 16, tokenizer: minilm}
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ragloom.chunking.base import TokenizedChunker
from ragloom.chunking.token_count import WordPieceCounter
from ragloom.component import output_types
from ragloom.errors import ComponentConfigError, Problem
from ragloom.models import DEFAULT_ENCODER
from ragloom.registry import register
from ragloom.types import Chunk, Document


def token_windows(
    offsets: list[tuple[int, int]],
    text_length: int,
    chunk_size: int,
    overlap: int,
    word_ids: list[int | None] | None = None,
) -> list[tuple[int, int]]:
    """Character spans of consecutive token windows.

    With `word_ids`, a window never starts or ends inside a word (it widens to the whole word,
    so a window may hold a few tokens more than `chunk_size`). Without overlap the spans tile
    the text (each runs to the next window's start, the first starts at 0 and the last ends
    at the end), so no character is lost.
    """
    if not offsets:
        return []
    count = len(offsets)

    def same_word(a: int, b: int) -> bool:
        return word_ids is not None and word_ids[a] is not None and word_ids[a] == word_ids[b]

    def word_start(i: int) -> int:
        while i > 0 and same_word(i - 1, i):
            i -= 1
        return i

    def word_end(i: int) -> int:
        while i + 1 < count and same_word(i, i + 1):
            i += 1
        return i

    windows: list[tuple[int, int]] = []
    first = 0
    while True:
        last = word_end(min(first + chunk_size, count) - 1)
        windows.append((first, last))
        if last >= count - 1:
            break
        # The next window starts `step` tokens on (at a word start), always moves forward, and
        # never leaves a token uncovered, even after a word longer than the step.
        following = last + 1 if overlap == 0 else word_start(first + chunk_size - overlap)
        if following <= first:
            following = word_end(first) + 1
        first = min(following, last + 1)
    spans = []
    for n, (first, last) in enumerate(windows):
        begin = 0 if n == 0 else offsets[first][0]
        if n == len(windows) - 1:
            end = text_length
        elif overlap == 0:
            end = offsets[windows[n + 1][0]][0]
        else:
            end = offsets[last][1]
        spans.append((begin, end))
    return spans


@register("token_chunker")
class TokenWindowChunker(TokenizedChunker):
    """Splits documents into windows of `chunk_size` model tokens overlapping by `overlap`."""

    def __init__(
        self,
        chunk_size: Annotated[int, Field(gt=0)] = 128,
        overlap: Annotated[int, Field(ge=0)] = 16,
        tokenizer: str = DEFAULT_ENCODER,
    ):
        if overlap >= chunk_size:
            raise ComponentConfigError(
                Problem(
                    f"token_chunker: overlap ({overlap}) must be smaller than "
                    f"chunk_size ({chunk_size})",
                    field="overlap",
                )
            )
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.tokenizer = tokenizer
        self._counter: WordPieceCounter | None = None

    def warm_up(self) -> None:
        if self._tokenizer is None:
            super().warm_up()
            self._counter = WordPieceCounter.of(self._tokenizer)

    def wholes(self, documents: list[Document]) -> list[list[tuple[int, int]] | None]:
        """Per document, its spans when it fits one window, known without tokenizing it (a
        counted token count, see `token_count`); None when it must be tokenized."""
        self.warm_up()
        if self._counter is None:
            return [None] * len(documents)
        limit = 64 * self.chunk_size  # longer texts would not fit: not worth counting
        short = [n for n, doc in enumerate(documents) if len(doc.text) <= limit]
        counted = self._counter.count_many([documents[n].text for n in short])
        counts: dict[int, int | None] = dict(zip(short, counted, strict=True))
        wholes: list[list[tuple[int, int]] | None] = []
        for n, doc in enumerate(documents):
            count = counts.get(n)
            fits = count is not None and count <= self.chunk_size
            wholes.append(([(0, len(doc.text))] if count else []) if fits else None)
        return wholes

    def spans(self, doc: Document) -> list[tuple[int, int]]:
        spans = self.wholes([doc])[0]
        return super().spans(doc) if spans is None else spans

    @output_types(chunks=list[Chunk])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        wholes = self.wholes(documents)
        rest = [doc for doc, spans in zip(documents, wholes, strict=True) if spans is None]
        encodings = iter(self.tokenize_many([doc.text for doc in rest]))
        chunks = [
            Chunk.from_span(doc, start, end, n)
            for doc, spans in zip(documents, wholes, strict=True)
            for n, (start, end) in enumerate(
                self.spans_of(doc, next(encodings)) if spans is None else spans
            )
        ]
        return {"chunks": chunks}

    def spans_of(self, doc: Document, encoding: Any) -> list[tuple[int, int]]:
        count = len(encoding)  # tokens, without building the offsets in Python
        if count <= self.chunk_size:
            return [(0, len(doc.text))] if count else []
        return token_windows(
            [tuple(o) for o in encoding.offsets],
            len(doc.text),
            self.chunk_size,
            self.overlap,
            encoding.word_ids,
        )
