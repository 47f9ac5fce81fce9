"""What every chunker shares: turning a document's spans into chunks, one document at a time."""

from __future__ import annotations

from typing import Any

from ragloom.chunking.text_encoder import load_tokenizer
from ragloom.component import Component, output_types
from ragloom.types import Chunk, Document


class Chunker(Component):
    """A chunker defines `spans(doc)`; chunking, ordering and the `run` socket come from here."""

    def spans(self, doc: Document) -> list[tuple[int, int]]:
        """Character spans of the document's chunks, in order."""
        raise NotImplementedError

    def chunk(self, doc: Document) -> list[Chunk]:
        """The chunks of one document, in order, each an exact span of its text."""
        self.warm_up()
        return [
            Chunk.from_span(doc, start, end, n) for n, (start, end) in enumerate(self.spans(doc))
        ]

    @output_types(chunks=list[Chunk])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {"chunks": [chunk for doc in documents for chunk in self.chunk(doc)]}


class TokenizedChunker(Chunker):
    """A chunker that places boundaries with its model's fast tokenizer (`self.tokenizer`)."""

    tokenizer: str
    _tokenizer: Any = None

    def warm_up(self) -> None:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer)

    def tokenize(self, text: str) -> Any:
        """Tokens of `text` with character offsets and word ids, no special tokens."""
        self.warm_up()
        return self._tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
