"""A ragloom retrieval pipeline used as a LangChain retriever (sync and async)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langchain_core.retrievers import BaseRetriever

from ragloom.errors import ConfigError
from ragloom.pipeline.graph import Pipeline
from ragloom.rag import RAG
from ragloom.retrievers.langchain_retriever import RagloomRetriever
from ragloom.types import Chunk

QUESTION = "What is reciprocal rank fusion?"


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
