"""`RAG.query_batch`: many questions through the real hybrid + reranker pipeline (bundled
MiniLM, Chroma on disk, BM25, the tiny reranker) give what `RAG.query` gives per question, with
one encoder and one reranker forward pass for all of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from ragloom.config import config_from_dict
from ragloom.errors import ConfigError
from ragloom.rag import RAG, QueryResult
from tests.integration.conftest import CORPUS, ROOT

QUESTIONS = [
    "What is reciprocal rank fusion?",
    "How does late chunking embed a chunk?",
    "What do k1 and b control in BM25?",
    "Which retriever scores must be normalised before mixing?",
    "How do I run the pipeline on Ray?",
    "Why rerank only the first candidates?",
]


@pytest.fixture(scope="module")
def rag(tiny_reranker: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RAG]:
    """examples/hybrid-rerank.yaml with the tiny reranker and no query cache, over the
    example corpus."""
    data = yaml.safe_load((ROOT / "examples" / "hybrid-rerank.yaml").read_text())
    components = data["query"]["components"]
    components["reranker"]["init_parameters"]["model"] = str(tiny_reranker)
    # No cache of query embeddings: each run must encode, not reuse the last run's vectors.
    components["query_encoder"]["init_parameters"]["cache_size"] = 0
    index_dir = tmp_path_factory.mktemp("query-batch") / "index"
    rag = RAG(config_from_dict(data), index_dir=index_dir)
    rag.index([CORPUS])
    yield rag
    rag.close()


def assert_same(got: QueryResult, want: QueryResult) -> None:
    """The same hits in the same order, scores equal to float tolerance (a padded batch of
    questions may differ from one question alone in the last bits), the same answer."""
    assert [h.chunk.id for h in got.hits] == [h.chunk.id for h in want.hits]
    assert np.allclose([h.score for h in got.hits], [h.score for h in want.hits], atol=1e-5)
    assert [h.source_ranks for h in got.hits] == [h.source_ranks for h in want.hits]
    assert got.answer is not None and want.answer is not None
    assert got.answer.text == want.answer.text
    assert got.answer.cited == want.answer.cited


@pytest.mark.parametrize(
    "options",
    [{}, {"top_k": 2}, {"filters": {"doc_id": {"$in": ["corpus/fusion.txt", "corpus/bm25.md"]}}}],
)
def test_query_batch_gives_what_query_gives(rag: RAG, options: dict) -> None:
    batched = rag.query_batch(QUESTIONS, **options)
    assert len(batched) == len(QUESTIONS)
    for question, result in zip(QUESTIONS, batched, strict=True):
        assert_same(result, rag.query(question, **options))
    if "filters" in options:
        docs = {h.chunk.doc_id for r in batched for h in r.hits}
        assert docs <= set(options["filters"]["doc_id"]["$in"]), docs


def test_batch_stages_run_once_for_all_questions(rag: RAG) -> None:
    """The query encoder and the reranker each make one forward pass for six questions."""
    query = rag.config.query
    query.warm_up()
    encoder = query.components["query_encoder"].encoder.model  # type: ignore[attr-defined]
    reranker = query.components["reranker"]._encoder.model  # type: ignore[attr-defined]
    calls: dict[str, list[int]] = {"encoder": [], "reranker": []}
    hooks = [
        model.register_forward_hook(
            lambda _m, _a, kwargs, _o, key=key: calls[key].append(len(kwargs["input_ids"])),
            with_kwargs=True,
        )
        for key, model in (("encoder", encoder), ("reranker", reranker))
    ]
    try:
        results = rag.query_batch(QUESTIONS)
    finally:
        for hook in hooks:
            hook.remove()
    assert calls["encoder"] == [len(QUESTIONS)]
    # All questions' pairs sorted together, at most batch_size (16) a forward pass.
    pairs = sum(calls["reranker"])
    assert pairs == sum(len(r.hits) for r in results)  # top_k 5: the corpus has 5 documents
    assert len(calls["reranker"]) == -(-pairs // 16) < len(QUESTIONS)


def test_every_question_is_checked_before_anything_runs(rag: RAG) -> None:
    with pytest.raises(ConfigError, match="the question is empty"):
        rag.query_batch(["What is BM25?", "  "])
    assert rag.query_batch([]) == []
