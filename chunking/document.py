"""One chunk per document: for retrievers that score whole documents (BM25 over abstracts)."""

from __future__ import annotations

from ragloom.chunking.base import Chunker
from ragloom.registry import register
from ragloom.types import Document


@register("document_chunker")
class DocumentChunker(Chunker):
    """The whole document as one chunk (none for a blank one).

    BM25 scores a short document better as a whole than as the best of its pieces (term
    frequencies and length normalisation see all of it), while dense retrieval prefers small
    chunks; index both and fuse with `group_by: document`.
    """

    def spans(self, doc: Document) -> list[tuple[int, int]]:
        return [(0, len(doc.text))] if doc.text.strip() else []
