"""LangChain interop: any ragloom retrieval pipeline as a `langchain_core` BaseRetriever.

The retriever runs the part of a query pipeline that produces `hits` (no generator) and
returns LangChain Documents: chunk text, the chunk id as `id`, and metadata with the source
document id, the exact span, the final score and each retriever's score and rank. It passes
LangChain's standard retriever suite with `top_k` as the number-of-results argument, both in
the constructor and per call.

Example::

    retriever = RagloomRetriever.from_config("examples/hybrid.yaml", index_dir="my-index")
    docs = retriever.invoke("What is reciprocal rank fusion?")
    docs = retriever.invoke("What is reciprocal rank fusion?", top_k=3)
    red = RagloomRetriever.from_config("examples/hybrid.yaml", filters={"team": "red"})
    docs = retriever.invoke("...", filters={"year": {"$gte": 2020}})  # and the retriever's own
    docs = await retriever.ainvoke("...")
"""

from __future__ import annotations

import asyncio
import copy
import difflib
from pathlib import Path
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PositiveInt, field_validator, model_validator

from ragloom.component import check_top_k
from ragloom.errors import ConfigError
from ragloom.filters import combine_specs, parse_filter
from ragloom.pipeline.graph import Pipeline
from ragloom.types import Hit

#: Per-call keyword arguments LangChain's own `invoke` reads and still hands on to us.
LANGCHAIN_CALL_ARGUMENTS = frozenset({"verbose"})


def hits_to_documents(hits: list[Hit]) -> list[LCDocument]:
    """LangChain Documents for hits, with score, per-source scores and ranks in metadata."""
    return [hit.to_langchain() for hit in hits]


def _unknown_argument(name: str, valid: list[str], where: str) -> str:
    """A one-line refusal naming the argument, a close match if any, and the valid ones."""
    close = difflib.get_close_matches(name, valid, n=1) or (["top_k"] if name == "k" else [])
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where} got an unknown argument {name!r}{hint}; valid: {', '.join(valid)}"


def check_query(query: Any) -> str:
    """The query as RAG.query accepts it: a string that is not blank (same rule, same message)."""
    if not isinstance(query, str):
        raise TypeError(
            f"RagloomRetriever takes the query as a string, got {type(query).__name__}; "
            f"pick the question out first, e.g. itemgetter('question') | retriever"
        )
    if not query.strip():
        raise ConfigError("the question is empty")
    return query


class RagloomRetriever(BaseRetriever):
    """A LangChain retriever backed by a ragloom pipeline with a `query` input and `hits`
    output (BM25, dense, hybrid, reranked: whatever the pipeline does).

    Copies (`copy.deepcopy`, `pickle`, `model_copy(deep=True)`) rebuild the pipeline from its
    serialised form (`Pipeline.to_dict`), cold: models and stores load again on first use,
    so a retriever that has already run (open stores, locks, models) can still be copied.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    pipeline: Pipeline
    top_k: PositiveInt | None = Field(default=None, strict=True)
    #: A metadata filter (`ragloom.filters`) every call applies, with a call's own `filters`.
    filters: dict[str, Any] | None = None

    @field_validator("filters", mode="after")
    @classmethod
    def _check_filters(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        parse_filter(value)  # a FilterError names the field and the operator
        return value

    @model_validator(mode="before")
    @classmethod
    def _known_arguments(cls, data: Any) -> Any:
        """Refuse a misspelt or foreign argument (`k`, `top_K`) instead of ignoring it."""
        if isinstance(data, dict):
            valid = sorted(cls.model_fields)
            for name in data:
                if name not in cls.model_fields:
                    raise ConfigError(_unknown_argument(str(name), valid, "RagloomRetriever"))
        return data

    def model_post_init(self, context: Any, /) -> None:
        for needed, declared in (("query", self.pipeline.inputs), ("hits", self.pipeline.outputs)):
            if needed not in declared:
                raise ConfigError(
                    f"RagloomRetriever needs a pipeline with a {needed!r} "
                    f"{'input' if declared is self.pipeline.inputs else 'output'}; "
                    f"it has {sorted(declared)}"
                )
        if self.top_k is not None:
            self._check_input("top_k")
        if self.filters:
            self._check_input("filters")
        self.pipeline.validate()

    def _check_input(self, name: str) -> None:
        if name not in self.pipeline.inputs:
            raise ConfigError(f"{name} needs the pipeline to declare a `{name}` input")

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

    def search(
        self, query: str, top_k: int | None = None, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        """The pipeline's ragloom hits for a query; `top_k` overrides the retriever's own,
        `filters` holds together with the retriever's own."""
        inputs: dict[str, Any] = {"query": check_query(query)}
        limit = self.top_k if top_k is None else check_top_k(top_k, "RagloomRetriever")
        if limit is not None:
            self._check_input("top_k")
            inputs["top_k"] = limit
        parse_filter(filters)
        where = combine_specs(self.filters, filters)
        if where is not None:
            self._check_input("filters")
            inputs["filters"] = where
        return list(self.pipeline.run(inputs).outputs["hits"])

    @staticmethod
    def _refuse_unknown(extra: dict[str, Any]) -> None:
        """Refuse a per-call keyword argument this retriever would otherwise ignore (`k=`)."""
        for name in extra:
            if name not in LANGCHAIN_CALL_ARGUMENTS:
                valid = ["filters", "top_k"]
                raise TypeError(_unknown_argument(name, valid, "RagloomRetriever.invoke"))

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[LCDocument]:
        self._refuse_unknown(kwargs)
        return hits_to_documents(self.search(query, top_k, filters))

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[LCDocument]:
        self._refuse_unknown(kwargs)
        # The pipeline is synchronous and CPU-bound (models): run it off the event loop.
        found = await asyncio.to_thread(self.search, query, top_k, filters)
        return hits_to_documents(found)

    # -- copying: the pipeline travels as its serialised form, never its runtime state --------

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        fields = {**state["__dict__"], "pipeline": _PipelineSpec(self.pipeline.to_dict())}
        return {**state, "__dict__": fields}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        fields = dict(state["__dict__"])
        if isinstance(fields.get("pipeline"), _PipelineSpec):
            fields["pipeline"] = Pipeline.from_dict(fields["pipeline"].data)
        super().__setstate__({**state, "__dict__": fields})

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> RagloomRetriever:
        clone = type(self).__new__(type(self))
        clone.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return clone


class _PipelineSpec:
    """A pipeline's `to_dict()` form inside a retriever's copied state."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
