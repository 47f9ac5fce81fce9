"""The cross-encoder reranker for LangChain users: a `BaseDocumentCompressor`.

Drop it into LangChain's `ContextualCompressionRetriever`, or call it on any list of LangChain
Documents. Each returned Document carries its cross-encoder score in `metadata["rerank_score"]`
(None for Documents past `depth`, which follow the scored ones unscored).

Example::

    reranker = CrossEncoderCompressor(model="models/scifact-reranker", top_k=5)
    best = reranker.compress_documents(documents, "What is reciprocal rank fusion?")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor
from langchain_core.documents import Document as LCDocument
from pydantic import Field, PositiveInt, PrivateAttr, model_validator

from ragloom.backends import Backend, Quantize, check_backend
from ragloom.devices import DType
from ragloom.rerank.cross_encoder import CrossEncoder, load_cross_encoder
from ragloom.rerank.reranker import rerank_hits
from ragloom.types import Chunk, Hit


class CrossEncoderCompressor(BaseDocumentCompressor):
    """Re-ranks LangChain Documents with a ragloom cross-encoder and keeps the `top_k` best."""

    model: str
    #: Strict, like every stage's `top_k` (`ragloom.component.check_top_k`): "5" is refused.
    top_k: PositiveInt = Field(default=10, strict=True)
    depth: int = Field(default=100, gt=0)
    batch_size: int = Field(default=16, gt=0)
    max_length: int | None = Field(default=None, gt=0)
    threshold: float | None = None
    device: str = "auto"
    dtype: DType = "auto"
    #: `onnx`: ONNX Runtime on the CPU (see `ragloom.backends`); `quantize: int8` with it.
    backend: Backend = "torch"
    quantize: Quantize = "none"
    _encoder: CrossEncoder | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _backend_settings(self) -> Self:
        check_backend(self.backend, self.quantize, self.dtype)
        return self

    def encoder(self) -> CrossEncoder:
        """The loaded cross-encoder (shared with reranker stages using the same settings)."""
        if self._encoder is None:
            self._encoder = load_cross_encoder(
                self.model, self.device, self.dtype, self.backend, self.quantize
            )
        return self._encoder

    def compress_documents(
        self, documents: Sequence[LCDocument], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[LCDocument]:
        hits = [Hit(_as_chunk(doc, n), 0.0) for n, doc in enumerate(documents)]
        ranked = rerank_hits(
            self.encoder(),
            query,
            hits,
            depth=self.depth,
            top_k=self.top_k,
            threshold=self.threshold,
            batch_size=self.batch_size,
            max_length=self.max_length,
        )
        originals = {hit.chunk.id: documents[n] for n, hit in enumerate(hits)}
        out = []
        for hit in ranked:
            doc = originals[hit.chunk.id]
            metadata: dict[str, Any] = {
                **doc.metadata,
                "rerank_score": hit.source_scores.get("rerank"),
            }
            out.append(LCDocument(id=doc.id, page_content=doc.page_content, metadata=metadata))
        return out


def _as_chunk(doc: LCDocument, position: int) -> Chunk:
    """A chunk standing for one input Document; ids are positional so duplicates stay apart."""
    return Chunk(
        doc_id=str(position),
        text=doc.page_content,
        start=0,
        end=len(doc.page_content),
        id=f"#{position:08d}",
    )
