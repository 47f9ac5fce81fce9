"""Distributed batch indexing on Ray Data: chunk, encode and prepare BM25 segments in an actor
pool; register and write through one actor.

The driver loads and plans (`ragloom.indexing.runner`); the documents to write become a Ray
Dataset that `map_batches` sends through `ChunkEncode`, a callable class that rebuilds the
pipeline's chunker and encoder from their `to_dict()` once per actor
(`compute=ActorPoolStrategy(size=encoder_actors)`). Writers with the `SegmentWriter` role
(BM25) also *prepare* their part in the actor: the batch's chunks are tokenized and saved as
a segment file in the (shared) index directory, so that work scales with the actors and the
writer only registers the segment (one O(batch) transaction). Each output row is one whole
map batch (its documents, their chunks, their prepared segments), so a document is never split
between two writes. The driver streams the output with `iter_batches` (bounded: Ray Data's
backpressure keeps only a few batches in flight, the corpus is never collected) and hands
rows to `WriterActor`, the only process that opens the stores: Chroma's PersistentClient must
have exactly one writer per directory (a Chroma stage with `server:` makes it an HttpClient of
that server instead). The writer actor is pinned to the driver's node, where the index
directory is; encoder actors on other nodes need that directory on a shared file system
when a BM25 writer prepares segments there.

Example configuration::

    executor:
      type: ray
      indexing: {encoder_actors: 2, batch_size: 64, write_batch_size: 256}
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np

from ragloom.component import Component
from ragloom.errors import ConfigError, Problem
from ragloom.indexing.batches import Batch, BatchResult, BatchSizer, BatchWriter
from ragloom.indexing.shape import RayDataStages
from ragloom.pipeline.plan import ExecutionPlan, Step, gather, run_step
from ragloom.progress import progress_enabled
from ragloom.retrievers.bm25_prepare import PreparedSegment
from ragloom.roles import WRITTEN
from ragloom.types import Chunk, Document, metadata_json

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline
    from ragloom.pipeline.ray_config import RayExecutorConfig

logger = logging.getLogger(__name__)

#: (class, to_dict() envelope) of a component, rebuilt inside a Ray worker.
Spec = tuple[type[Component], dict[str, Any]]


@runtime_checkable
class SegmentWriter(Protocol):
    """A writer whose work splits in two: `prepare` (anywhere, in parallel) and
    `commit_prepared` (in the single writer). BM25Writer is one."""

    def prepare(self, chunks: list[Chunk]) -> PreparedSegment: ...

    def commit_prepared(
        self, prepared: list[PreparedSegment], delete_documents: list[str]
    ) -> dict[str, Any]: ...


def _build(spec: Spec, index_dir: str, warm: bool = True) -> Component:
    cls, envelope = spec
    component = cls.from_dict(envelope)
    component.bind_index(Path(index_dir))
    if warm:
        component.warm_up()
    return component


class ChunkEncode:
    """Ray Data callable class: a batch of documents in, one row out holding the batch's
    encoded chunks and each segment writer's prepared segment."""

    def __init__(
        self,
        chunker: Spec,
        encoder: Spec,
        index_dir: str,
        preparers: list[tuple[str, Spec, bool]] | None = None,
    ):
        self.chunker = _build(chunker, index_dir)
        self.encoder = _build(encoder, index_dir)
        # Preparing opens no store: the writer actor alone does.
        self.preparers = [
            (name, _build(spec, index_dir, warm=False), embedded)
            for name, spec, embedded in preparers or []
        ]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        ids = [str(i) for i in batch["id"]]
        docs = [
            Document(text=str(text), id=doc_id, metadata=json.loads(str(meta)))
            for doc_id, text, meta in zip(ids, batch["text"], batch["metadata"], strict=True)
        ]
        chunks = self.chunker.run(documents=docs)["chunks"]
        encoded = self.encoder.run(chunks=chunks)["chunks"] if chunks else []
        prepared = {
            name: asdict(cast(SegmentWriter, writer).prepare(encoded if embedded else chunks))
            for name, writer, embedded in self.preparers
        }
        return {
            "ids": [json.dumps(ids)],
            "chunks": [pickle.dumps(encoded)],
            "count": [len(encoded)],
            "prepared": [json.dumps(prepared)],
        }


class WriterActor:
    """The one process that writes the stores: every writer stage of the pipeline, warmed up.

    Each writer's inputs are gathered by the pipeline's `ExecutionPlan`, as in every runner:
    the loader's `empty` output is the batch's document ids (their old chunks go), the
    chunker's and encoder's `chunks` are the batch's chunks without and with embeddings.
    """

    def __init__(self, writers: list[tuple[Step, Spec]], stages: RayDataStages, index_dir: str):
        self.writers = [(step, _build(spec, index_dir)) for step, spec in writers]
        self.stages = stages

    def write(
        self, doc_ids: list[str], payloads: list[bytes], prepared: list[str] | None = None
    ) -> tuple[dict[str, dict[str, int]], dict[str, float]]:
        """Drop the documents' old chunks, then write the new ones, in every writer: segment
        writers register what the encoder actors prepared, the others write the chunks."""
        chunks: list[Chunk] = [c for payload in payloads for c in pickle.loads(payload)]
        produced: dict[str, dict[str, Any]] = {
            self.stages.loader: {"empty": doc_ids},
            self.stages.chunker: {"chunks": [replace(c, embedding=None) for c in chunks]},
            self.stages.encoder: {"chunks": chunks},
        }
        segments: dict[str, list[PreparedSegment]] = {}
        for record in prepared or []:
            for name, fields in json.loads(record).items():
                segments.setdefault(name, []).append(PreparedSegment(**fields))
        outputs: dict[str, dict[str, int]] = {}
        timings: dict[str, float] = {}
        for step, component in self.writers:
            kwargs = gather(step, {}, produced)
            if step.name in segments:
                start = time.perf_counter()
                writer = cast(SegmentWriter, component)
                deleted = kwargs.get("delete_documents") or []
                written = writer.commit_prepared(segments[step.name], deleted)
                seconds = time.perf_counter() - start
            else:
                written, seconds = run_step(step, component, kwargs)
            timings[step.name] = seconds
            outputs[step.name] = {WRITTEN: int(written[WRITTEN])}
        return outputs, timings

    def ready(self) -> bool:
        return True


class RayDataWriter(BatchWriter):
    """Writes batches of documents through Ray Data (chunk + encode) and one writer actor."""

    kind = "ray-data"

    def __init__(self, pipeline: Pipeline, stages: RayDataStages, settings: RayExecutorConfig):
        from ragloom.pipeline.ray_resources import ensure_ray

        try:
            import ray.data  # noqa: F401  (needs pandas and pyarrow)
        except ImportError as exc:
            raise ImportError(
                "indexing with --executor ray runs on Ray Data, which needs pandas and pyarrow: "
                "pip install 'ray[data]' (or set executor.indexing.ray_data: false)"
            ) from exc
        self.pipeline = pipeline
        self.stages = stages
        self.settings = settings
        self.options = settings.indexing
        self.index_dir = str(pipeline.resolved_index_dir().resolve())
        self.outputs = {
            name: (addr.component, addr.socket) for name, addr in pipeline.outputs.items()
        }
        ensure_ray(settings)
        self.num_gpus = self._gpus()
        self._check_cpus()
        self.writer: Any = None

    def _spec(self, name: str) -> Spec:
        component = self.pipeline.components[name]
        return type(component), component.to_dict()

    def _gpus(self) -> float:
        import ray

        if self.options.num_gpus is not None:
            return self.options.num_gpus
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        return 1.0 if gpus >= self.options.encoder_actors else 0.0

    def _check_cpus(self) -> None:
        import ray

        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        wanted = self.options.encoder_actors * self.options.num_cpus + self.options.writer_num_cpus
        if wanted > cpus + 1e-9:
            raise ConfigError(
                Problem(
                    f"executor: indexing: {self.options.encoder_actors} encoder actor(s) x "
                    f"num_cpus={self.options.num_cpus:g} + writer_num_cpus="
                    f"{self.options.writer_num_cpus:g} need {wanted:g} CPUs but the Ray cluster "
                    f"has {cpus:g}; lower encoder_actors or num_cpus",
                    field="indexing",
                )
            )

    def _writer(self) -> Any:
        """The writer actor, created on first use on this (the driver's) node."""
        if self.writer is None:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = NodeAffinitySchedulingStrategy(
                ray.get_runtime_context().get_node_id(), soft=False
            )
            plan = ExecutionPlan.of(self.pipeline)
            writers = [(plan.steps[name], self._spec(name)) for name, _ in self.stages.writers]
            self.writer = (
                ray.remote(WriterActor)
                .options(num_cpus=self.options.writer_num_cpus, scheduling_strategy=here)
                .remote(writers, self.stages, self.index_dir)
            )
            self._get(self.writer.ready.remote())
        return self.writer

    def _get(self, ref: Any) -> Any:
        import ray

        return ray.get(ref, timeout=self.settings.timeout_s)

    def _result(self, outputs: dict[str, dict[str, int]], timings: dict[str, float]) -> BatchResult:
        written = {
            name: outputs[stage][socket]
            for name, (stage, socket) in self.outputs.items()
            if stage in outputs and socket in outputs[stage]
        }
        return BatchResult(written, timings)

    def start(self) -> None:
        self._writer()

    def delete(self, doc_ids: list[str]) -> BatchResult:
        return self._result(*self._get(self._writer().write.remote(doc_ids, [])))

    def _dataset(self, documents: list[Document], batch_size: int) -> Any:
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress_enabled()
        rows = [
            {"id": d.id, "text": d.text, "metadata": metadata_json(d.metadata)} for d in documents
        ]
        blocks = max(1, -(-len(rows) // batch_size))
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        kwargs = {
            "chunker": self._spec(self.stages.chunker),
            "encoder": self._spec(self.stages.encoder),
            "index_dir": self.index_dir,
            "preparers": [
                (name, self._spec(name), embedded) for name, embedded in self._preparing()
            ],
        }
        return dataset.map_batches(
            ChunkEncode,
            compute=ray.data.ActorPoolStrategy(size=self.options.encoder_actors),
            fn_constructor_kwargs=kwargs,
            batch_size=batch_size,
            batch_format="numpy",
            num_cpus=self.options.num_cpus,
            num_gpus=self.num_gpus,
        )

    def _preparing(self) -> list[tuple[str, bool]]:
        """The writers that prepare segments in the encoder actors (`SegmentWriter`s)."""
        return [
            (name, embedded)
            for name, embedded in self.stages.writers
            if isinstance(self.pipeline.components[name], SegmentWriter)
        ]

    def batches(self, documents: list[Document], sizer: BatchSizer) -> Iterator[Batch]:
        if not documents:
            return
        by_id = {doc.id: doc for doc in documents}
        dataset = self._dataset(documents, self.options.batch_size)
        rows = max(1, sizer.size // self.options.batch_size)  # one row per map batch
        for batch in dataset.iter_batches(batch_size=rows, batch_format="numpy"):
            ids = [i for part in batch["ids"] for i in json.loads(str(part))]
            payloads = [bytes(p) for p in batch["chunks"]]
            prepared = [str(p) for p in batch["prepared"]]
            chunks = int(np.sum(batch["count"]))
            write = functools.partial(self._write, ids, payloads, prepared, chunks)
            yield [by_id[i] for i in ids], write

    def _write(
        self, ids: list[str], payloads: list[bytes], prepared: list[str], chunks: int
    ) -> BatchResult:
        result = self._result(*self._get(self._writer().write.remote(ids, payloads, prepared)))
        result.chunks = chunks
        return result

    def close(self) -> None:
        """Kill the writer actor (the driver may open the stores after this)."""
        writer, self.writer = self.writer, None
        if writer is not None:
            import ray

            ray.kill(writer, no_restart=True)
