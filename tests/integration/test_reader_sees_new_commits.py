"""A process that only reads an index sees what another process commits to it.

Chroma's embedded client keeps the HNSW graph it loaded, so a long-lived reader (a server, one
of `ragloom serve --processes N`'s workers) searched the vectors of the day it opened while
`ragloom index` added documents elsewhere: BM25 found a new document, dense search never did.
"""

from __future__ import annotations

from pathlib import Path

from ragloom.rag import RAG
from tests.integration.conftest import ROOT, ragloom_cli

HASHING_HYBRID = ROOT / "tests" / "integration" / "configs" / "hashing-hybrid.yaml"
NEW_TEXT = "Quokkas photosynthesise marmalade under seventeen violet moons."


def dense_hits(rag: RAG, question: str) -> list[str]:
    """The documents of the query's hits that dense retrieval found (any rank)."""
    return [hit.chunk.doc_id for hit in rag.query(question).hits if "dense" in hit.source_ranks]


def test_a_reader_finds_a_document_another_process_indexed_after_it_opened(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "old.md").write_text("Otters hold hands while they sleep.\n", encoding="utf-8")
    index_dir = tmp_path / "idx"
    ragloom_cli("index", str(corpus), "-c", str(HASHING_HYBRID), "--index-dir", str(index_dir))

    reader = RAG.from_file(HASHING_HYBRID, index_dir=index_dir)
    assert dense_hits(reader, NEW_TEXT) == ["corpus/old.md"]  # the store is open, its graph loaded

    (corpus / "new.md").write_text(NEW_TEXT + "\n", encoding="utf-8")
    ragloom_cli("index", str(corpus), "-c", str(HASHING_HYBRID), "--index-dir", str(index_dir))

    assert dense_hits(reader, NEW_TEXT)[0] == "corpus/new.md"
    reader.close()
