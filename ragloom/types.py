"""The data that flows between stages: documents, chunks with exact spans, hits and answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ragloom.structure import citation_location, span_metadata

if TYPE_CHECKING:
    from langchain_core.documents import Document as LCDocument

Metadata = dict[str, Any]
#: LangChain metadata keys that carry a chunk's place in its document (namespaced, so user
#: metadata with the same plain names survives a round trip).
SPAN_KEYS = ("ragloom_doc_id", "ragloom_start", "ragloom_end", "ragloom_position")
#: Metadata a hit adds to its LangChain Document (and that converting back drops).
HIT_KEYS = ("score", "source_scores", "source_ranks")
#: A chunk record's fields that place the chunk in its document (stores that keep the text
#: and id apart, such as Chroma, keep these as they are).
RECORD_SPAN = ("doc_id", "start", "end", "position")


def content_hash(text: str, metadata: Metadata | None = None) -> str:
    """A stable short hash of a text (and metadata): ids and change detection use it."""
    digest = hashlib.sha256(text.encode("utf-8"))
    if metadata:
        digest.update(repr(sorted(metadata.items())).encode("utf-8"))
    return digest.hexdigest()[:16]


@dataclass
class Document:
    """A source text. `id` is user-given (a path, a corpus id) or, when empty, a content hash."""

    text: str
    id: str = ""
    metadata: Metadata = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Document.text must be str, got {type(self.text).__name__}")
        if not self.id:
            self.id = content_hash(self.text)

    @property
    def hash(self) -> str:
        """Content hash of text and metadata: what decides whether a document changed."""
        return content_hash(self.text, self.metadata)

    def to_langchain(self) -> LCDocument:
        from langchain_core.documents import Document as LCDocument

        return LCDocument(id=self.id, page_content=self.text, metadata=dict(self.metadata))

    @classmethod
    def from_langchain(cls, doc: LCDocument) -> Document:
        return cls(text=doc.page_content, id=doc.id or "", metadata=dict(doc.metadata))


@dataclass
class Chunk:
    """A piece of a document: `document.text[start:end] == text` always holds."""

    doc_id: str
    text: str
    start: int
    end: int
    position: int = 0
    id: str = ""
    metadata: Metadata = field(default_factory=dict)
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"Chunk span [{self.start}, {self.end}) is not a valid span")
        if self.end - self.start != len(self.text):
            raise ValueError(
                f"Chunk text length {len(self.text)} does not match span "
                f"[{self.start}, {self.end}) of document {self.doc_id!r}"
            )
        if not self.id:
            self.id = f"{self.doc_id}#{self.start}-{self.end}"

    @classmethod
    def from_span(cls, doc: Document, start: int, end: int, position: int) -> Chunk:
        """The chunk covering `doc.text[start:end]`, inheriting the document's metadata, with
        its own pages and section where the document has them (`ragloom.structure`)."""
        return cls(
            doc_id=doc.id,
            text=doc.text[start:end],
            start=start,
            end=end,
            position=position,
            metadata=span_metadata(doc.metadata, doc.text, start, end),
        )

    def to_langchain(self) -> LCDocument:
        from langchain_core.documents import Document as LCDocument

        meta = dict(self.metadata)
        meta.update(
            {
                SPAN_KEYS[0]: self.doc_id,
                SPAN_KEYS[1]: self.start,
                SPAN_KEYS[2]: self.end,
                SPAN_KEYS[3]: self.position,
            }
        )
        return LCDocument(id=self.id, page_content=self.text, metadata=meta)

    @classmethod
    def from_langchain(cls, doc: LCDocument) -> Chunk:
        """Inverse of `to_langchain`; a plain LangChain document becomes one whole-text chunk."""
        meta = dict(doc.metadata)
        doc_id = str(meta.pop(SPAN_KEYS[0], doc.id or content_hash(doc.page_content)))
        start = int(meta.pop(SPAN_KEYS[1], 0))
        end = int(meta.pop(SPAN_KEYS[2], start + len(doc.page_content)))
        position = int(meta.pop(SPAN_KEYS[3], 0))
        for key in HIT_KEYS:
            meta.pop(key, None)
        return cls(
            doc_id=doc_id,
            text=doc.page_content,
            start=start,
            end=end,
            position=position,
            id=doc.id or "",
            metadata=meta,
        )


def json_default(value: Any) -> Any:
    """`json.dumps`'s `default` for metadata: numpy scalars and arrays as numbers and lists,
    anything else JSON cannot hold as its `str`."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return str(value)


def metadata_json(metadata: Metadata) -> str:
    """Metadata as JSON text (Unicode kept, odd values as `json_default` says), for stores and
    rows that hold it as one string (Chroma, Ray Data); `json.loads` reads it back."""
    return json.dumps(metadata, ensure_ascii=False, default=json_default)


def chunk_to_record(chunk: Chunk, embedding: bool = False) -> dict[str, Any]:
    """A chunk as a JSON-able record (id, text, span, position, metadata; with `embedding`,
    its vector as a list of floats when it has one). `chunk_from_record` inverts it."""
    record: dict[str, Any] = {
        "id": chunk.id,
        "doc_id": chunk.doc_id,
        "text": chunk.text,
        "start": chunk.start,
        "end": chunk.end,
        "position": chunk.position,
        "metadata": chunk.metadata,
    }
    if embedding and chunk.embedding is not None:
        record["embedding"] = np.asarray(chunk.embedding).tolist()
    return record


def chunk_from_record(record: Mapping[str, Any]) -> Chunk:
    """The chunk a `chunk_to_record` record describes (an embedding comes back as float32)."""
    vector = record.get("embedding")
    return Chunk(
        doc_id=str(record["doc_id"]),
        text=record["text"],
        start=int(record["start"]),
        end=int(record["end"]),
        position=int(record.get("position", 0)),
        id=str(record["id"]),
        metadata=dict(record.get("metadata") or {}),
        embedding=None if vector is None else np.asarray(vector, dtype=np.float32),
    )


@dataclass
class Hit:
    """A retrieved chunk, its final score, and each source's score and 1-based rank."""

    chunk: Chunk
    score: float
    source_scores: dict[str, float] = field(default_factory=dict)
    source_ranks: dict[str, int] = field(default_factory=dict)

    def with_score(self, score: float) -> Hit:
        return replace(self, score=float(score))

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI prints for a hit."""
        c = self.chunk
        return {
            "doc_id": c.doc_id,
            "chunk_id": c.id,
            "text": c.text,
            "score": float(self.score),
            "start": c.start,
            "end": c.end,
            "metadata": c.metadata,
            "source_scores": dict(self.source_scores),
            "source_ranks": dict(self.source_ranks),
            **citation_location(c.metadata),  # page, page_end, section where known
        }

    def to_langchain(self) -> LCDocument:
        doc = self.chunk.to_langchain()
        doc.metadata.update(
            {
                HIT_KEYS[0]: float(self.score),
                HIT_KEYS[1]: dict(self.source_scores),
                HIT_KEYS[2]: dict(self.source_ranks),
            }
        )
        return doc


@dataclass
class Answer:
    """A generated (or extracted) answer with the hits it cites and per-stage timings."""

    text: str
    hits: list[Hit] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)
    generator: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    citations_inferred: bool = False

    @property
    def cited_hits(self) -> list[Hit]:
        """The hits the answer cites, by their 1-based passage number."""
        return [self.hits[i - 1] for i in self.cited if 0 < i <= len(self.hits)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "generator": self.generator,
            "cited": list(self.cited),
            "citations_inferred": self.citations_inferred,
            "timings": dict(self.timings),
        }
