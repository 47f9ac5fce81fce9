"""LangChain interop: any ragloom retrieval pipeline as a `langchain_core` BaseRetriever.

The retriever runs the part of a query pipeline that produces `hits` (no generator) and
returns LangChain Documents: chunk text, the chunk id as `id`, and metadata with the source
document id, the exact span, the final score and each retriever's score and rank.

Example::

    retriever = RagloomRetriever.from_config("examples/hybrid.yaml", index_dir="my-index")
    docs = retriever.invoke("What is reciprocal rank fusion?")
    docs = await retriever.ainvoke("...")
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from ragloom.errors import ConfigError
from ragloom.pipeline.graph import Pipeline
from ragloom.types import Hit


def hits_to_documents(hits: list[Hit]) -> list[LCDocument]:
    """LangChain Documents for hits, with score, per-source scores and ranks in metadata."""
    return [hit.to_langchain() for hit in hits]


class RagloomRetriever(BaseRetriever):
    """A LangChain retriever backed by a ragloom pipeline with a `query` input and `hits`
    output (BM25, dense, hybrid, reranked: whatever the pipeline does)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pipeline: Pipeline
    top_k: int | None = Field(default=None, gt=0)

    def model_post_init(self, context: Any, /) -> None:
        for needed, declared in (("query", self.pipeline.inputs), ("hits", self.pipeline.outputs)):
            if needed not in declared:
                raise ConfigError(
                    f"RagloomRetriever needs a pipeline with a {needed!r} "
                    f"{'input' if declared is self.pipeline.inputs else 'output'}; "
                    f"it has {sorted(declared)}"
                )
        if self.top_k is not None and "top_k" not in self.pipeline.inputs:
            raise ConfigError("top_k needs the pipeline to declare a `top_k` input")
        self.pipeline.validate()

    @classmethod
    def from_config(
        cls, config: str | Path | None = None, index_dir: str | Path | None = None, **kwargs: Any
    ) -> RagloomRetriever:
        """The ranking part of a configuration's query pipeline over an existing index
        (None: the built-in default configuration)."""
        from ragloom.evaluation.runner import ranking_pipeline
        from ragloom.manifest import check_encoder, read_manifest
        from ragloom.rag import RAG

        rag = RAG.from_file(config, index_dir)
        manifest = read_manifest(rag.index_dir)
        if manifest is None:
            raise ConfigError(f"no index in {rag.index_dir}: run `ragloom index PATH...` first")
        check_encoder(rag.index_dir, manifest, rag.config.encoder_settings())
        return cls(pipeline=ranking_pipeline(rag.config.query), **kwargs)

    def search(self, query: str) -> list[Hit]:
        """The pipeline's ragloom hits for a query."""
        inputs: dict[str, Any] = {"query": query}
        if self.top_k is not None:
            inputs["top_k"] = self.top_k
        return list(self.pipeline.run(inputs).outputs["hits"])

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        return hits_to_documents(self.search(query))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        # The pipeline is synchronous and CPU-bound (models): run it off the event loop.
        return hits_to_documents(await asyncio.to_thread(self.search, query))
