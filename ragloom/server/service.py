"""What the HTTP endpoints call: a RAG's pipelines run in worker threads, never in the event loop.

Pipelines are built once and warmed once (models loaded, stores open); each request then only
runs them. Queries run on a pool of `workers` threads holding the index's read lock; document
updates run on one thread of their own holding its write lock (the server is the index's only
writer), so a query sees the index before an update or after it, never in between.

Example::

    service = RagService(RAG.from_file("examples/bm25.yaml", index_dir="idx"), settings)
    service.warm()
    result = await service.call(service.query, "What is BM25?", 5)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from ragloom.errors import ComponentRunError, ConfigError, RagloomError
from ragloom.generation.base import Message
from ragloom.generation.streaming import stream_to
from ragloom.index_dir import prepare_index_dir
from ragloom.indexing.report import IndexReport
from ragloom.indexing.runner import index_documents
from ragloom.manifest import read_manifest
from ragloom.pipeline.coalesce import coalesce_batch_stages
from ragloom.pipeline.executors import prepare_executor
from ragloom.rag import RAG, QueryResult
from ragloom.server.errors import ApiError
from ragloom.server.metrics import ServerMetrics
from ragloom.server.retrieval import retrieval_pipeline
from ragloom.server.rwlock import ReadWriteLock
from ragloom.server.settings import ServerSettings
from ragloom.types import Document

logger = logging.getLogger(__name__)
T = TypeVar("T")


def as_api_error(exc: BaseException) -> ApiError:
    """The HTTP answer for an error raised by a pipeline run (one line, no traceback)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ComponentRunError) and isinstance(exc.cause, ValueError):
        # A stage refused this request's values (e.g. a question over max_question_tokens).
        return ApiError(422, str(exc).splitlines()[0], "invalid_request")
    if isinstance(exc, RagloomError):
        return ApiError(500, str(exc).splitlines()[0], "pipeline_error")
    return ApiError(
        500, f"query failed: {type(exc).__name__}: {exc}".splitlines()[0], "internal_error"
    )


class RagService:
    """A RAG's query, retrieval and indexing pipelines, served from worker threads."""

    def __init__(self, rag: RAG, settings: ServerSettings, metrics: ServerMetrics | None = None):
        self.rag = rag
        self.settings = settings
        self.metrics = metrics or ServerMetrics()
        self.lock = ReadWriteLock()
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="ragloom-serve")
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="ragloom-index")
        self.on_ray = rag.config.query.executor.get("type") == "ray"
        # Ray runs the whole query pipeline on its actors; a second, partial pipeline would
        # start a second set of actors, so /v1/retrieve runs the whole one there.
        self.retriever = (
            rag
            if self.on_ray
            else RAG(replace(rag.config, query=retrieval_pipeline(rag.config.query)))
        )
        #: Query encoders and other batch-capable stages, shared by concurrent requests.
        self.coalescers = (
            {}
            if self.on_ray or settings.max_batch == 1
            else coalesce_batch_stages(
                [rag.config.query, self.retriever.config.query], settings.max_batch
            )
        )
        self.warm_error: str | None = "warming up"
        self._warm_lock = threading.Lock()

    # -- readiness ------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.warm_error is None

    def warm(self, block: bool = True) -> bool:
        """Open the index and load every query model, once; False (and why) if not possible.

        With `block=False`, a warm-up already under way is not waited for (False)."""
        if self.warm_error is None:
            return True
        if not self._warm_lock.acquire(blocking=block):
            return False
        try:
            if self.warm_error is None:
                return True
            if read_manifest(self.rag.index_dir) is None:
                self.warm_error = (
                    f"no index in {self.rag.index_dir} yet: add documents with "
                    f"POST /v1/documents, or run `ragloom index PATH --index-dir "
                    f"{self.rag.index_dir}`"
                )
                return False
            try:
                self.start_pipelines()
            except Exception as exc:
                self.warm_error = f"the query pipeline cannot start: {exc}".splitlines()[0]
                logger.warning("%s", self.warm_error)
                return False
            freeze_long_lived()
            self.warm_error = None
            return True
        finally:
            self._warm_lock.release()

    def start_pipelines(self) -> None:
        """Load the query models and open the stores (or start the Ray actors) now."""
        if self.on_ray:
            prepare_executor(self.rag.config.query)
        else:
            self.rag.config.query.warm_up()
            self.retriever.config.query.warm_up()

    def check_ready(self) -> None:
        """Raise 503 unless the pipelines are warm (trying to warm them first)."""
        if not self.warm():
            raise ApiError(
                503,
                f"not ready: {self.warm_error}",
                "not_ready",
                headers={"Retry-After": str(self.settings.retry_after_s)},
            )

    # -- running --------------------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any, writer: bool = False) -> T:
        """Run `fn(*args)` on a worker thread; 504 past the request timeout."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.writer if writer else self.pool, fn, *args)
        try:
            return await asyncio.wait_for(future, self.settings.request_timeout_s)
        except TimeoutError:
            raise ApiError(504, self.timeout_message(), "timeout") from None
        except ApiError:
            raise
        except Exception as exc:
            raise as_api_error(exc) from None

    def timeout_message(self) -> str:
        return (
            f"the request took longer than {self.settings.request_timeout_s:g} s (the "
            f"server's request_timeout_s)"
        )

    def query(
        self,
        question: str,
        top_k: int | None,
        history: list[Message] | None = None,
        on_piece: Callable[[str], None] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> QueryResult:
        """Run the query pipeline (blocking); `history` is the conversation before the
        question (see `RAG.query`); `on_piece` gets the answer's text as generated;
        `filters` is a metadata filter every retriever applies."""
        self.check_ready()
        streaming = stream_to(on_piece) if on_piece is not None else contextlib.nullcontext()
        with self.lock.read(), streaming:
            result = self.rag.query(question, top_k, history, filters=filters)
        self.metrics.observe_stages("query", result.timings)
        return result

    def retrieve(
        self, question: str, top_k: int | None, filters: dict[str, Any] | None = None
    ) -> QueryResult:
        """Run only the stages that produce the hits (blocking)."""
        self.check_ready()
        with self.lock.read():
            result = self.retriever.query(question, top_k, filters=filters)
        self.metrics.observe_stages("retrieve", result.timings)
        return QueryResult(hits=result.hits, answer=None, timings=result.timings)

    def write(self, documents: list[Document], delete: list[str]) -> IndexReport:
        """Add, replace and delete documents through the indexing pipeline (blocking)."""
        if self.settings.processes > 1:
            raise ApiError(
                409,
                f"this server runs {self.settings.processes} processes, which only read the "
                "index (Chroma allows one writing process): add documents with `ragloom index`, "
                "or serve with --processes 1",
                "read_only_server",
            )
        prepare_index_dir(self.rag.index_dir)
        with self.lock.write():
            try:
                report = index_documents(
                    self.rag.config, documents, delete, chunk_counts=self.rag.chunk_counts
                )
            except ConfigError as exc:
                # The index is busy (another writer), or refuses this pipeline's writes.
                raise ApiError(409, str(exc).splitlines()[0], "index_conflict") from None
        self.metrics.observe_stages("indexing", report.timings)
        if not self.ready:
            self.warm()  # the first documents of a new index: queries can start now
        return report

    def close(self) -> None:
        """Stop taking work, let running work finish, then release the pipelines."""
        self.pool.shutdown(wait=True)
        self.writer.shutdown(wait=True)
        self.rag.close()


def freeze_long_lived() -> None:
    """Keep the objects alive now (models, index, tokenizer: about 450k for SciFact) out of
    every later garbage collection. Python's full collection walks them all while holding the
    GIL: 300-370 ms, stalling every request in flight (the p99 of a loaded server). Frozen,
    the longest collection took 7 ms (benchmarks/gc_pauses.py)."""
    gc.collect()
    gc.freeze()
