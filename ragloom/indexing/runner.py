"""Incremental, crash-safe indexing: load, plan, then write changed documents batch by batch.

`index_paths` is what `RAG.index` runs, for every executor:

1. the loader stage runs on the driver (reading files is cheap next to encoding); a record id
   already indexed from a file this run does not read, or (an index from before manifest
   format 3) a document the index holds under the id an earlier ragloom gave its file, stops
   the run before anything is written (`ragloom.indexing.changes`);
2. `plan_documents` compares each document's content hash with the manifest: unchanged
   documents stop here (never chunked or encoded);
3. deletions (now-empty documents, `--prune`d ones, leftovers of an interrupted run) go to
   every writer's `delete_documents`, then are committed to the manifest;
4. changed documents are written in batches (`batch_size` documents), each committed to the
   manifest only after every writer has it (`ragloom.indexing.journal`).

Step 4 runs the indexing pipeline without its loader (local executor, or the per-stage Ray
executor), or, with `executor: {type: ray}` and a loader -> chunker -> encoder -> writers
pipeline, distributed batch indexing on Ray Data (`ragloom.indexing.ray_data`).
"""

from __future__ import annotations

import functools
import gc
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ragloom.errors import ConfigError
from ragloom.indexing.batches import Batch, BatchResult, BatchSizer, BatchWriter
from ragloom.indexing.changes import (
    check_former_ids,
    check_moves,
    pipeline_changes,
    warn_left_stale,
)
from ragloom.indexing.journal import Journal
from ragloom.indexing.lock import index_lock
from ragloom.indexing.plan import IndexPlan, plan_documents
from ragloom.indexing.report import IndexReport, Throughput, TokenCounter
from ragloom.indexing.shape import PATHS_INPUT, IndexingShape
from ragloom.manifest import check_encoder, read_manifest
from ragloom.roles import WRITTEN, ChunkWriter
from ragloom.types import Document

if TYPE_CHECKING:
    from ragloom.config import RagConfig
    from ragloom.pipeline.graph import Pipeline
    from ragloom.pipeline.ray_config import RayExecutorConfig

logger = logging.getLogger(__name__)

#: Documents in the first batch unless told otherwise; later batches grow while commits are
#: quick (`BatchSizer`), so a cheap pipeline (BM25 only) is not dominated by per-commit costs.
DEFAULT_BATCH_SIZE = 128
#: Text characters per batch at most, whatever the document count: bounds a batch's memory.
MAX_BATCH_CHARS = 32_000_000


def written_counts(pipeline: Pipeline, outputs: dict[str, Any]) -> dict[str, int]:
    """The chunks-written counts among a run's outputs: the `written` outputs of chunk writers
    (the `ChunkWriter` role), never another stage's integer output."""
    sources = {name: (addr.component, addr.socket) for name, addr in pipeline.outputs.items()}
    if not sources:  # undeclared outputs are named "stage.socket"
        sources = {key: (key.partition(".")[0], key.partition(".")[2]) for key in outputs}
    return {
        name: int(outputs[name])
        for name, (stage, socket) in sources.items()
        if name in outputs
        and socket == WRITTEN
        and isinstance(pipeline.components.get(stage), ChunkWriter)
    }


class PipelineWriter(BatchWriter):
    """Runs the writing pipeline (the indexing pipeline minus its loader) once per batch."""

    def __init__(self, shape: IndexingShape, loaded: dict[str, Any]):
        self.shape = shape
        self.loaded = loaded
        self.pipeline = shape.writing_pipeline()
        self.kind = str(self.pipeline.executor.get("type", "local"))
        self.delete_input = shape.input_name("empty")

    def _run(self, documents: list[Document], delete: list[str]) -> BatchResult:
        inputs: dict[str, Any] = {}
        for name in self.pipeline.inputs:
            socket = name.removeprefix(f"{self.shape.loader}.")
            if name == self.delete_input:
                inputs[name] = delete
            elif socket == "documents":
                inputs[name] = documents
            elif socket in self.loaded:
                inputs[name] = self.loaded[socket]
        result = self.pipeline.run(inputs)
        written = written_counts(self.pipeline, result.outputs)
        return BatchResult(written, dict(result.timings), max(written.values(), default=0))

    def start(self) -> None:
        from ragloom.pipeline.executors import prepare_executor

        if self.kind == "local":
            self.pipeline.warm_up()
        else:
            prepare_executor(self.pipeline)

    def check_delete(self, doc_ids: list[str]) -> None:
        if doc_ids and self.delete_input not in self.pipeline.inputs:
            raise ConfigError(
                f"{len(doc_ids)} document(s) must be deleted from the index, but no writer "
                f"receives `{self.delete_input}`: connect it to each writer's delete_documents"
            )

    def delete(self, doc_ids: list[str]) -> BatchResult:
        return self._run([], doc_ids)

    def batches(self, documents: list[Document], sizer: BatchSizer) -> Iterator[Batch]:
        begin = 0
        while begin < len(documents):
            end, chars = begin, 0
            while end < len(documents) and end - begin < sizer.size:
                chars += len(documents[end].text)
                if chars > MAX_BATCH_CHARS and end > begin:
                    break
                end += 1
            part = documents[begin:end]
            begin = end
            yield part, functools.partial(self._run, part, [d.id for d in part])

    def close(self) -> None:
        self.pipeline.close()


def _ray_settings(config: RagConfig) -> RayExecutorConfig | None:
    """The parsed `executor: {type: ray}` block of the indexing pipeline, or None."""
    block = config.indexing.executor
    if block.get("type") != "ray":
        return None
    from ragloom.pipeline.ray_config import parse_ray_executor

    return parse_ray_executor(block)


def _writer_for(
    config: RagConfig,
    shape: IndexingShape,
    loaded: dict[str, Any],
    settings: RayExecutorConfig | None,
) -> BatchWriter:
    """Ray Data when the executor is ray and the pipeline has the shape; else the pipeline."""
    if settings is not None:
        stages, why = shape.ray_data_stages()
        if settings.indexing.ray_data and stages is not None:
            from ragloom.indexing.ray_data import RayDataWriter

            return RayDataWriter(config.indexing, stages, settings)
        if settings.indexing.ray_data:
            logger.warning(
                "indexing runs on the per-stage Ray executor, not Ray Data: the pipeline is not "
                "loader -> chunker -> encoder -> writers (%s)",
                why,
            )
    return PipelineWriter(shape, loaded)


def _commit_size(batch_size: int | None, settings: RayExecutorConfig | None) -> BatchSizer:
    if batch_size is not None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        return BatchSizer(batch_size)
    if settings is not None:
        return BatchSizer(settings.indexing.write_batch_size)
    return BatchSizer(DEFAULT_BATCH_SIZE, adaptive=True)


@runtime_checkable
class RecordLoader(Protocol):
    """A loader that recognises unchanged records by their keys (`FileLoader.load`)."""

    def load(self, paths: list[str], known: dict[bytes, str] | None = None) -> dict[str, Any]: ...


def _load(
    config: RagConfig,
    shape: IndexingShape,
    paths: list[str],
    journal: Journal,
    recognise: bool = True,
) -> dict[str, Any]:
    """Run the loader stage alone on the driver; one that can, skips the records the journal
    has committed unchanged (`recognised` in the outputs) unless `recognise` is False."""
    pipeline = config.indexing
    loader = pipeline.components[shape.loader]
    loader.bind_index(pipeline.resolved_index_dir())
    loader.warm_up()
    sockets = [addr.socket for addr in pipeline.inputs[PATHS_INPUT]]
    if isinstance(loader, RecordLoader) and sockets == ["paths"]:
        return dict(loader.load(paths, known=journal.record_keys if recognise else {}))
    return dict(loader.run(**{socket: paths for socket in sockets}))


def index_paths(
    config: RagConfig,
    paths: list[str],
    prune: bool = False,
    batch_size: int | None = None,
    chunk_counts: Callable[[], dict[str, int]] | None = None,
    wait: bool = False,
) -> IndexReport:
    """Bring the index of `config` up to date with `paths` (see the module docstring).

    The index directory's writer lock is held throughout: a second writer is refused with a
    message naming the holder, or, with `wait`, waits for it.
    """
    with index_lock(config.indexing.resolved_index_dir(), wait=wait):
        return _index_locked(config, paths, prune, batch_size, chunk_counts)


def index_documents(
    config: RagConfig,
    documents: list[Document],
    delete: list[str] | None = None,
    chunk_counts: Callable[[], dict[str, int]] | None = None,
    wait: bool = False,
) -> IndexReport:
    """Add or replace `documents` and delete the ids in `delete`, given as objects instead of
    read by the loader (`ragloom serve`'s documents endpoint); the same plan, batches, commits
    and writer lock as `index_paths`. A document keeps its id whichever file it came from."""
    given = {"documents": list(documents), "empty": list(delete or []), "skipped": []}
    with index_lock(config.indexing.resolved_index_dir(), wait=wait):
        return _index_locked(config, [], False, None, chunk_counts, given)


def _index_locked(
    config: RagConfig,
    paths: list[str],
    prune: bool,
    batch_size: int | None,
    chunk_counts: Callable[[], dict[str, int]] | None,
    given: dict[str, Any] | None = None,
) -> IndexReport:
    pipeline = config.indexing
    index_dir = pipeline.resolved_index_dir()
    manifest = read_manifest(index_dir)
    encoder = config.encoder_settings()
    check_encoder(index_dir, manifest, encoder, writing=True)
    shape = IndexingShape.of(pipeline)
    if shape is None:
        raise ConfigError(
            "incremental indexing needs the `paths` input to feed one loader stage with a "
            "`documents` output"
        )
    ray_settings = _ray_settings(config)
    sizer = _commit_size(batch_size, ray_settings)
    start = time.perf_counter()
    current = pipeline.to_dict()
    changes = pipeline_changes((manifest or {}).get("pipeline"), current, shape.loader)
    if changes:
        logger.warning(
            "the indexing pipeline changed since %s was built (%s): every document is "
            "indexed again",
            index_dir,
            "; ".join(changes),
        )
    journal = Journal(index_dir, manifest, {"encoder": encoder, "pipeline": current})
    try:
        loaded = given if given is not None else _load(config, shape, paths, journal, not changes)
    except BaseException:
        journal.close()
        raise
    timings = {shape.loader: time.perf_counter() - start}
    documents: list[Document] = list(loaded.get("documents") or [])
    recognised: list[str] = list(loaded.get("recognised") or [])
    skipped = [str(s) for s in loaded.get("skipped") or []]
    empty = list(loaded.get("empty") or [])
    files = _file_paths(loaded["files"]) if "files" in loaded else None
    try:
        if files is not None:
            check_moves(documents, files, journal)
        # Pruning compares against every indexed document; else only the loaded ones matter.
        every = prune or bool(changes)
        known = journal.hashes(None if every else [d.id for d in documents] + empty)
        if files is not None and not prune:  # pruning deletes the documents' former ids
            check_former_ids(documents, empty, recognised, files, known, journal)
    except BaseException:
        journal.close()
        raise
    plan = plan_documents(
        documents,
        empty,
        skipped,
        known,
        journal.pending,
        prune,
        recognised,
        loaded.get("record_keys"),
        rewrite=bool(changes),
    )
    if changes and not prune:
        warn_left_stale(known, documents, empty)
    written: dict[str, int] = {}
    model = (encoder or {}).get("model")
    if model == "hashing":  # the stand-in encoder has no tokenizer: count words
        model = None
    writer = _writer_for(config, shape, loaded, ray_settings)
    progress = Throughput(len(plan.write), TokenCounter(model))
    # The loaded corpus lives until the run ends: keep the cyclic garbage collector from
    # walking it again after every few thousand new objects. Not in a process that froze its
    # own objects already (a warm server): unfreezing after the run would thaw those too.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        journal.set_record_keys(plan.rekey)
        _apply(plan, writer, journal, sizer, progress, written, timings)
        rates = progress.rates()
        if prune:  # every document the index keeps was named by this run
            journal.clear_legacy_ids()
        journal.save()  # a new index records its encoder even when nothing was written
    finally:
        if freeze:
            gc.unfreeze()
        progress.close()
        writer.close()
        pipeline.close()
        journal.close()
    timings["total"] = time.perf_counter() - start
    report = IndexReport(
        documents=len(documents) + len(recognised),
        chunks_written=written,
        stored=chunk_counts() if chunk_counts is not None else {},
        skipped=skipped,
        timings=timings,
        added=len(plan.added),
        updated=len(plan.updated),
        unchanged=len(plan.unchanged),
        deleted=len(plan.deleted),
        throughput=rates,
        executor=writer.kind,
    )
    return report


def _file_paths(files: Any) -> dict[str, str | None]:
    """A loader's `files` output as {file id: path}: `FileLoader.load` gives the path of each
    file it read; a loader that lists ids alone leaves the paths unknown."""
    if isinstance(files, Mapping):
        return {str(name): None if path is None else str(path) for name, path in files.items()}
    return dict.fromkeys(map(str, files))


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0) + value


def _apply(
    plan: IndexPlan,
    writer: BatchWriter,
    journal: Journal,
    sizer: BatchSizer,
    progress: Throughput,
    written: dict[str, int],
    timings: dict[str, float],
) -> None:
    """Deletions first, then the batches; each committed to the manifest once written."""
    stage_timings: dict[str, float] = {}
    writer.check_delete(plan.delete)
    if plan.delete or plan.write:
        writer.start()
        progress.restart()
    if plan.delete:
        journal.begin(plan.delete)
        result = writer.delete(plan.delete)
        journal.commit({}, deleted=plan.delete)
        _add(stage_timings, result.timings)
    for documents, write in writer.batches(plan.write, sizer):
        started = time.perf_counter()
        journal.begin(doc.id for doc in documents)
        result = write()
        journal.commit(
            {doc.id: plan.hashes[doc.id] for doc in documents},
            record_keys=plan.record_keys,
            sources={
                doc.id: str(doc.metadata["source"]) for doc in documents if "source" in doc.metadata
            },
        )
        sizer.record(len(documents), time.perf_counter() - started)
        progress.add(documents, result.chunks)
        _add(written, result.written)
        _add(stage_timings, result.timings)
    stage_timings.pop("total", None)
    timings.update(stage_timings)
