"""What every chunker shares: turning a document's spans into chunks, one document at a time."""

from __future__ import annotations

from typing import Any

from ragloom.chunking.fast_tokenizer import load_backend_tokenizer
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
            # The Rust tokenizer itself, a private copy with no truncation or padding: calling it
            # directly skips transformers' per-text conversion to Python (half the time).
            backend = load_backend_tokenizer(self.tokenizer)
            backend.no_truncation()
            backend.no_padding()
            self._tokenizer = backend

    def tokenize_many(self, texts: list[str]) -> list[Any]:
        """A `tokenizers.Encoding` per text (`.offsets`, `.word_ids`), no special tokens: one
        batch call, which the fast tokenizer runs on every core."""
        self.warm_up()
        if not texts:
            return []
        return list(self._tokenizer.encode_batch(texts, add_special_tokens=False))

    def tokenize(self, text: str) -> Any:
        """The `tokenizers.Encoding` of one text."""
        return self.tokenize_many([text])[0]

    def spans_of(self, doc: Document, encoding: Any) -> list[tuple[int, int]]:
        """Character spans of the document's chunks, from its encoding."""
        raise NotImplementedError

    def spans(self, doc: Document) -> list[tuple[int, int]]:
        return self.spans_of(doc, self.tokenize(doc.text))

    @output_types(chunks=list[Chunk])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        encodings = self.tokenize_many([doc.text for doc in documents])
        chunks = [
            Chunk.from_span(doc, start, end, n)
            for doc, encoding in zip(documents, encodings, strict=True)
            for n, (start, end) in enumerate(self.spans_of(doc, encoding))
        ]
        return {"chunks": chunks}
