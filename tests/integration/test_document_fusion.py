"""examples/hybrid.yaml end to end: whole-document BM25 and late-chunked sentences, fused per
document, on a real index of the example corpus."""

from __future__ import annotations

import pytest

from ragloom.rag import RAG
from tests.integration.conftest import CORPUS, ROOT

QUESTIONS = ["What is reciprocal rank fusion?", "How does late chunking embed a chunk?"]


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory: pytest.TempPathFactory) -> RAG:
    rag = RAG.from_file(ROOT / "examples" / "hybrid.yaml", tmp_path_factory.mktemp("doc-fusion"))
    rag.index([CORPUS])
    return rag


def test_the_two_writers_hold_documents_and_sentences(hybrid: RAG) -> None:
    counts = hybrid.chunk_counts()
    documents = len(list(CORPUS.iterdir()))
    assert counts["bm25_writer"] == documents  # one chunk per document
    assert counts["dense_writer"] > documents  # one per sentence


@pytest.mark.parametrize("question", QUESTIONS)
def test_hits_are_documents_carrying_the_longest_chunk(hybrid: RAG, question: str) -> None:
    hits = hybrid.query(question, top_k=5).hits
    assert hits
    doc_ids = [hit.chunk.doc_id for hit in hits]
    assert len(doc_ids) == len(set(doc_ids))  # fused per document: never two chunks of one
    loader = hybrid.config.indexing.components["loader"]
    texts = {doc.id: doc.text for doc in loader.run(paths=[str(CORPUS)])["documents"]}
    for hit in hits:
        ranks = hit.source_ranks
        assert set(ranks) <= {"bm25", "dense"} and ranks
        assert all(1 <= rank <= len(texts) for rank in ranks.values())  # document ranks
        if "bm25" in ranks:  # BM25 returned the whole document: the hit carries all of it
            assert hit.chunk.text == texts[hit.chunk.doc_id]
        else:  # only dense found it: its best sentence
            assert len(hit.chunk.text) < len(texts[hit.chunk.doc_id])
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)


def test_dense_ranks_count_documents_not_sentences(hybrid: RAG) -> None:
    hits = hybrid.query("What is reciprocal rank fusion?", top_k=10).hits
    dense_ranks = sorted(hit.source_ranks["dense"] for hit in hits if "dense" in hit.source_ranks)
    assert dense_ranks == list(range(1, len(dense_ranks) + 1))
