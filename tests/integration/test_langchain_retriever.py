"""A ragloom retrieval pipeline used as a LangChain retriever (sync and async)."""

from __future__ import annotations

import asyncio
import copy
import pickle
from operator import itemgetter
from pathlib import Path

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda

from ragloom.errors import ConfigError
from ragloom.pipeline.graph import Pipeline
from ragloom.rag import RAG
from ragloom.retrievers.langchain_retriever import RagloomRetriever
from ragloom.types import Chunk
from tests.integration.conftest import CORPUS, ROOT

QUESTION = "What is reciprocal rank fusion?"
BM25_CONFIG = ROOT / "examples" / "bm25.yaml"
#: A ranking pipeline without a `top_k` input.
NO_TOP_K_PIPELINE = """
components:
  bm25: {type: bm25_retriever}
inputs:
  query: [bm25.query]
outputs:
  hits: bm25.hits
"""


def test_retriever_returns_the_pipeline_hits(example_index: Path) -> None:
    retriever = RagloomRetriever.from_config(index_dir=example_index, top_k=3)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(QUESTION)
    hits = RAG(index_dir=example_index).query(QUESTION, top_k=3).hits
    assert [d.id for d in docs] == [h.chunk.id for h in hits]
    assert [d.metadata["score"] for d in docs] == pytest.approx([h.score for h in hits])
    assert docs[0].metadata["source_ranks"] and docs[0].metadata["source_scores"]
    # The exact span survives the round trip through LangChain.
    chunk = Chunk.from_langchain(docs[0])
    assert chunk == hits[0].chunk


def test_async_and_batch_agree_with_invoke(example_index: Path) -> None:
    retriever = RagloomRetriever.from_config(index_dir=example_index, top_k=2)
    sync = retriever.invoke(QUESTION)
    async_docs = asyncio.run(retriever.ainvoke(QUESTION))
    batch = retriever.batch([QUESTION, "How does late chunking work?"])
    assert [d.id for d in async_docs] == [d.id for d in sync] == [d.id for d in batch[0]]
    assert len(batch[1]) == 2


def test_pipeline_without_query_or_hits_is_refused(tmp_path: Path) -> None:
    pipe = Pipeline.from_yaml_text(
        """
components:
  bm25: {type: bm25_retriever}
inputs:
  text: [bm25.query]
outputs:
  hits: bm25.hits
"""
    )
    with pytest.raises(ConfigError, match="'query' input"):
        RagloomRetriever(pipeline=pipe)
    with pytest.raises(ConfigError, match="no index"):
        RagloomRetriever.from_config(index_dir=tmp_path / "empty")


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example corpus indexed with examples/bm25.yaml (no model: under a second)."""
    index_dir = tmp_path_factory.mktemp("bm25-index") / "index"
    RAG.from_file(BM25_CONFIG, index_dir).index([CORPUS])
    return index_dir


def test_per_call_top_k_overrides_the_retrievers_own(example_index: Path) -> None:
    retriever = RagloomRetriever.from_config(index_dir=example_index, top_k=3)
    assert len(retriever.invoke(QUESTION)) == 3
    one = retriever.invoke(QUESTION, top_k=1)
    assert [d.id for d in one] == [d.id for d in retriever.invoke(QUESTION)][:1]
    assert len(asyncio.run(retriever.ainvoke(QUESTION, top_k=2))) == 2
    assert [len(docs) for docs in retriever.batch([QUESTION, "What is BM25?"], top_k=1)] == [1, 1]
    assert len(retriever.invoke(QUESTION)) == 3  # the per-call value did not stick


@pytest.mark.parametrize("name", ["k", "top_K"])
def test_unknown_constructor_argument_is_refused(example_index: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=rf"unknown argument '{name}' \(did you mean 'top_k'\?\)"):
        RagloomRetriever.from_config(index_dir=example_index, **{name: 2})


def test_bad_per_call_arguments_are_refused(example_index: Path) -> None:
    retriever = RagloomRetriever.from_config(index_dir=example_index)
    with pytest.raises(TypeError, match=r"unknown argument 'k' \(did you mean 'top_k'\?\)"):
        retriever.invoke(QUESTION, k=1)
    with pytest.raises(TypeError, match="unknown argument 'limit'"):
        asyncio.run(retriever.ainvoke(QUESTION, limit=1))
    for bad in (0, -2, True, "3", 1.0):
        with pytest.raises(ConfigError, match=r"^RagloomRetriever: parameter 'top_k': Input"):
            retriever.invoke(QUESTION, top_k=bad)
    no_top_k = RagloomRetriever(pipeline=Pipeline.from_yaml_text(NO_TOP_K_PIPELINE))
    with pytest.raises(ConfigError, match="declare a `top_k` input"):
        no_top_k.invoke(QUESTION, top_k=2)


@pytest.mark.parametrize("clone", ["deepcopy", "pickle", "model_copy"])
def test_a_retriever_that_has_run_can_be_copied(example_index: Path, clone: str) -> None:
    retriever = RagloomRetriever.from_config(index_dir=example_index, top_k=3, tags=["t"])
    expected = [d.id for d in retriever.invoke(QUESTION)]  # stores, locks, models now open
    copied = {
        "deepcopy": lambda: copy.deepcopy(retriever),
        "pickle": lambda: pickle.loads(pickle.dumps(retriever)),
        "model_copy": lambda: retriever.model_copy(deep=True),
    }[clone]()
    assert copied.pipeline is not retriever.pipeline
    assert (copied.top_k, copied.tags) == (3, ["t"])
    assert [d.id for d in copied.invoke(QUESTION)] == expected
    assert [d.id for d in retriever.invoke(QUESTION)] == expected


def test_a_dict_piped_in_is_refused_at_the_boundary(example_index: Path) -> None:
    retriever = RagloomRetriever.from_config(index_dir=example_index)
    chain = RunnableLambda(lambda inputs: inputs) | retriever
    with pytest.raises(TypeError, match=r"query as a string, got dict; .*itemgetter") as error:
        chain.invoke({"question": QUESTION})
    assert "\n" not in str(error.value)
    fixed = RunnableLambda(itemgetter("question")) | retriever
    assert fixed.invoke({"question": QUESTION})


@pytest.mark.parametrize("setup", ["bm25", "hybrid"])
@pytest.mark.parametrize("query", ["", "  \n\t"])
def test_an_empty_query_is_refused_like_rag_query(
    example_index: Path, bm25_index: Path, setup: str, query: str
) -> None:
    config, index_dir = (BM25_CONFIG, bm25_index) if setup == "bm25" else (None, example_index)
    with pytest.raises(ConfigError) as refused:
        RAG.from_file(config, index_dir).query(query)
    retriever = RagloomRetriever.from_config(config, index_dir=index_dir)
    for call in (lambda: retriever.invoke(query), lambda: asyncio.run(retriever.ainvoke(query))):
        with pytest.raises(ConfigError) as error:
            call()
        assert str(error.value) == str(refused.value) == "the question is empty"
