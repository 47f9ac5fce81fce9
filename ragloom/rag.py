"""The RAG application the CLI drives: index files, answer questions, over one index directory.

Example::

    from ragloom.rag import RAG

    rag = RAG.from_file("examples/hybrid.yaml", index_dir="my-index")  # or RAG() for the default
    rag.index(["examples/corpus"])
    result = rag.query("What does late chunking do?")
    print(result.answer.text, [h.chunk.doc_id for h in result.hits])
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragloom.component import check_top_k
from ragloom.config import RagConfig, default_config, load_config
from ragloom.errors import ConfigError
from ragloom.filters import parse_filter
from ragloom.generation.base import Message
from ragloom.generation.streaming import stream_pieces
from ragloom.index_dir import prepare_index_dir
from ragloom.indexing import IndexReport, index_paths
from ragloom.manifest import check_encoder, manifest_version, read_manifest_once
from ragloom.pipeline.batched import run_many
from ragloom.pipeline.executors import apply_executor, prepare_executor
from ragloom.pipeline.result import PipelineResult
from ragloom.roles import ChunkWriter, ReopensIndex
from ragloom.structure import citation_location
from ragloom.types import Answer, Hit

__all__ = ["RAG", "IndexReport", "QueryResult"]


@dataclass
class QueryResult:
    """The hits, the answer (None for a ranking-only pipeline) and per-stage timings."""

    hits: list[Hit]
    answer: Answer | None
    timings: dict[str, float]
    #: The prompt the generator got, when the pipeline declares a `prompt` output (a debug
    #: aid: `outputs: {prompt: prompt.prompt}`); `to_dict` then lists it too.
    prompt: str | None = None

    @property
    def passages(self) -> list[Hit]:
        """The numbered passages the answer's `[n]` citations refer to (else the hits)."""
        return self.answer.hits if self.answer is not None and self.answer.hits else self.hits

    def to_dict(self) -> dict[str, Any]:
        """The `ragloom query --json` object."""
        answer = self.answer
        citations = []
        if answer is not None:
            for n in answer.cited:
                chunk = answer.hits[n - 1].chunk
                citations.append(
                    {
                        "passage": n,
                        "doc_id": chunk.doc_id,
                        "chunk_id": chunk.id,
                        "start": chunk.start,
                        "end": chunk.end,
                        **citation_location(chunk.metadata),  # page, page_end, section
                    }
                )
        body: dict[str, Any] = {
            "answer": answer.text if answer is not None else None,
            "hits": [hit.to_dict() for hit in self.hits],
            "timings": self.timings,
            "generator": answer.generator if answer is not None else None,
            "passages": [hit.to_dict() for hit in answer.hits] if answer is not None else [],
            "citations": citations,
            "citations_inferred": answer.citations_inferred if answer is not None else False,
        }
        if self.prompt is not None:
            body["prompt"] = self.prompt
        return body


class RAG:
    """An indexing pipeline and a query pipeline bound to one index directory."""

    def __init__(
        self,
        config: RagConfig | None = None,
        index_dir: str | Path | None = None,
        executor: str | None = None,
    ):
        self.config = config or default_config()
        self.config.set_index_dir(index_dir)
        apply_executor(self.config, executor)  # `executor`: "local" or "ray" overrides the file
        #: The manifest the last query saw: when another run replaces it, readers reopen.
        self._seen_version: tuple[int, int, int] | None = None

    @classmethod
    def from_file(
        cls,
        path: str | Path | None,
        index_dir: str | Path | None = None,
        executor: str | None = None,
    ) -> RAG:
        """Load a configuration file (None: the built-in default)."""
        return cls(load_config(path) if path else default_config(), index_dir, executor)

    def close(self) -> None:
        """Release executor resources (Ray actors) held by the two pipelines."""
        self.config.indexing.close()
        self.config.query.close()

    @property
    def index_dir(self) -> Path:
        return self.config.indexing.resolved_index_dir()

    def index(
        self,
        paths: list[str | Path],
        prune: bool = False,
        batch_size: int | None = None,
        wait: bool = False,
    ) -> IndexReport:
        """Bring the index up to date with `paths`: unchanged documents are skipped, changed
        ones replaced; `prune=True` also deletes indexed documents this run did not see. A
        file's id is its path from the path given, starting with that folder's name
        (`ragloom.loaders.path_id`), whatever the working directory.

        Changed documents are written `batch_size` at a time, each batch committed to the
        manifest once every writer has it, so an interrupted run resumes without loss or
        duplicates (see `ragloom.indexing`). One writer per index directory: another run
        writing it makes this one fail naming it, or, with `wait`, wait for it.
        """
        prepare_index_dir(self.index_dir)
        return index_paths(
            self.config,
            [str(p) for p in paths],
            prune=prune,
            batch_size=batch_size,
            chunk_counts=self.chunk_counts,
            wait=wait,
        )

    def stream(
        self,
        question: str,
        top_k: int | None = None,
        history: list[Message] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Iterator[str | QueryResult]:
        """Yield the answer's text pieces as they are generated, then the QueryResult."""
        inputs = self._query_inputs(question, top_k, history, filters)
        prepare_executor(self.config.query)  # Ray wants to start on the main thread
        for kind, value in stream_pieces(lambda: self._run_query(inputs)):
            if kind == "error":
                raise value
            yield value

    def query(
        self,
        question: str,
        top_k: int | None = None,
        history: list[Message] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> QueryResult:
        """Run the query pipeline; `top_k` needs the pipeline to declare a `top_k` input.

        `history` is the conversation before `question` ({role, content} messages: system,
        user, assistant), for a pipeline that declares a `history` input (its prompt builder
        places it before the question, the oldest turns dropped beyond its budget); other
        pipelines ignore it. Retrieval uses `question` alone, as given.

        `filters` is a metadata filter (`ragloom.filters`, e.g. `{"year": {"$gte": 2020}}`)
        every retriever applies before its top k; the pipeline must declare a `filters` input.
        """
        return self._run_query(self._query_inputs(question, top_k, history, filters))

    def query_batch(
        self,
        questions: Sequence[str],
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
    ) -> list[QueryResult]:
        """`query` for many questions at once, each result what `query` returns for it (the
        timings aside: a batched stage's are the batch's, `total` the whole batch's).

        Stages that run many calls in one pass (query encoders, rerankers) run once for all
        the questions, the others per question (`ragloom.pipeline.batched`), so a batch of
        questions takes one encoder forward pass per `batch_size` instead of one each. Every
        question is checked before anything runs; the first question whose run fails raises
        its error (after the others have run).
        """
        runs = [self._query_inputs(question, top_k, filters=filters) for question in questions]
        if not runs:
            return []
        self._check_index()
        start = time.perf_counter()
        outcomes = run_many(self.config.query, runs)
        results = []
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
            results.append(self._result(outcome, start))
        return results

    def _query_inputs(
        self,
        question: str,
        top_k: int | None,
        history: list[Message] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The query pipeline's inputs, checked before anything starts (`top_k` as the CLI's
        --top-k and every stage's `top_k` parameter are: a positive integer; `filters` in
        the filter language)."""
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        inputs: dict[str, Any] = {"query": question}
        if top_k is not None:
            inputs["top_k"] = check_top_k(top_k, "query")
            if "top_k" not in self.config.query.inputs:
                raise ConfigError("--top-k needs the query pipeline to declare a `top_k` input")
        if history and "history" in self.config.query.inputs:
            inputs["history"] = history
        if parse_filter(filters) is not None:
            if "filters" not in self.config.query.inputs:
                raise ConfigError(
                    "--filter needs the query pipeline to declare a `filters` input feeding "
                    "its retrievers, e.g. `filters: [bm25.filters, dense.filters]`"
                )
            inputs["filters"] = filters
        return inputs

    def _run_query(self, inputs: dict[str, Any]) -> QueryResult:
        self._check_index()
        start = time.perf_counter()
        return self._result(self.config.query.run(inputs), start)

    def _check_index(self) -> None:
        """Refuse to query a missing index, or one built with another encoder; after another
        run committed to it, have the stores that keep a copy in memory load it afresh."""
        version = manifest_version(self.index_dir)
        if version != self._seen_version:
            if self._seen_version is not None:
                for component in self.config.query.components.values():
                    if isinstance(component, ReopensIndex):
                        component.reopen_index()
            self._seen_version = version
        manifest = read_manifest_once(self.index_dir)
        if manifest is None:
            raise ConfigError(
                f"no index in {self.index_dir}: run `ragloom index PATH...` first "
                f"(or pass --index-dir where the index lives)"
            )
        check_encoder(self.index_dir, manifest, self.config.encoder_settings())

    def _result(self, result: PipelineResult, start: float) -> QueryResult:
        """The QueryResult of a query pipeline's run that started at `start`."""
        timings = dict(result.timings)
        timings.setdefault("total", time.perf_counter() - start)
        answer = result.outputs.get("answer")
        hits = result.outputs["hits"]
        if answer is not None:
            answer.timings = timings
        prompt = result.outputs.get("prompt")
        return QueryResult(hits=hits, answer=answer, timings=timings, prompt=prompt)

    def chunk_counts(self) -> dict[str, int]:
        """Chunks stored by each writer stage of the indexing pipeline (no model is loaded)."""
        counts: dict[str, int] = {}
        for name, component in self.config.indexing.components.items():
            if isinstance(component, ChunkWriter):
                component.bind_index(self.index_dir)
                counts[name] = int(component.stored_chunks())
        return counts
