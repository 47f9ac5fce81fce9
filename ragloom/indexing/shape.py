"""How an indexing pipeline splits for incremental runs: the loader, then everything after it.

The loader is the stage fed by the `paths` input that outputs `documents`. The driver runs it
on its own, decides what changed (`ragloom.indexing.plan`), and feeds only the changed
documents, batch by batch, to the *writing pipeline*: the same stages without the loader, each
loader output it fed becoming a pipeline input named `<loader>.<output>`. The loader's `empty`
output (what writers connect to `delete_documents`) carries the ids to delete.

`ray_data_stages` says whether the writing pipeline has the shape distributed batch indexing
runs on Ray Data: one chunker, one encoder, then writers only.

Example::

    shape = IndexingShape.of(pipeline)          # None: no loader -> `documents` stage
    writing = shape.writing_pipeline()
    writing.run({"loader.documents": docs, "loader.empty": []})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ragloom.pipeline.graph import Address, Pipeline
from ragloom.pipeline.ray_config import restrict_stages
from ragloom.roles import ChunkWriter
from ragloom.types import Chunk, Document

PATHS_INPUT = "paths"


@dataclass(frozen=True)
class RayDataStages:
    """The stages distributed indexing maps: chunker and encoder in a pool, writers in one actor.

    `writers` pairs each writer with whether it takes the encoder's chunks (with embeddings)
    rather than the chunker's.
    """

    loader: str
    chunker: str
    encoder: str
    writers: tuple[tuple[str, bool], ...]


@dataclass
class IndexingShape:
    """An indexing pipeline seen as loader + writing pipeline."""

    pipeline: Pipeline
    loader: str

    @classmethod
    def of(cls, pipeline: Pipeline) -> IndexingShape | None:
        """The split, or None when `paths` does not feed exactly one `documents` loader."""
        targets = pipeline.inputs.get(PATHS_INPUT) or []
        loaders = {addr.component for addr in targets}
        if len(loaders) != 1:
            return None
        (loader,) = loaders
        sockets = type(pipeline.components[loader]).output_sockets()
        if "documents" not in sockets or sockets["documents"].type != list[Document]:
            return None
        return cls(pipeline, loader)

    def input_name(self, socket: str) -> str:
        """The writing pipeline's input that replaces the loader's output `socket`."""
        return f"{self.loader}.{socket}"

    def receives(self, socket: str) -> list[Address]:
        """Where the loader's output `socket` goes."""
        return [
            c.receiver
            for c in self.pipeline.connections
            if c.sender == Address(self.loader, socket)
        ]

    def writing_pipeline(self) -> Pipeline:
        """The pipeline without its loader, sharing the component objects (warm models)."""
        source = self.pipeline
        names = [name for name in source.components if name != self.loader]
        executor = dict(source.executor)
        if executor.get("type") == "ray":
            executor = restrict_stages(executor, names)
        writing = Pipeline(index_dir=source.index_dir, executor=executor)
        for name in names:
            writing.add(name, source.components[name], optional=name in source.optional)
        for conn in source.connections:
            if conn.sender.component == self.loader:
                writing.add_input(self.input_name(conn.sender.socket), str(conn.receiver))
            else:
                writing.connect(str(conn.sender), str(conn.receiver))
        for input_name, targets in source.inputs.items():
            for addr in targets:
                if addr.component != self.loader:
                    writing.add_input(input_name, str(addr))
        for output, addr in source.outputs.items():
            if addr.component != self.loader:
                writing.add_output(output, str(addr))
        return writing

    def ray_data_stages(self) -> tuple[RayDataStages | None, str]:
        """The chunker / encoder / writers split, or None and why the shape does not fit."""
        pipe = self.pipeline
        if pipe.optional:
            return None, f"optional stages ({', '.join(sorted(pipe.optional))})"
        if set(pipe.inputs) != {PATHS_INPUT}:
            return None, f"pipeline inputs other than {PATHS_INPUT!r}"
        chunkers = {a.component for a in self.receives("documents")}
        if len(chunkers) != 1:
            return None, "the loader's documents do not go to exactly one chunker"
        (chunker,) = chunkers
        if not _maps(pipe, chunker, "documents", "chunks", Document):
            return None, f"{chunker!r} is not a documents -> chunks stage"
        downstream = _receivers(pipe, chunker)
        encoders = [
            n
            for n in downstream
            if _maps(pipe, n, "chunks", "chunks", Chunk) and _receivers(pipe, n)
        ]
        if len(encoders) != 1:
            return None, f"the chunks of {chunker!r} do not go to exactly one encoder"
        (encoder,) = encoders
        if _feeds(pipe, chunker) != {(self.loader, "documents")}:
            return None, f"{chunker!r} takes inputs other than the loader's documents"
        if _feeds(pipe, encoder) != {(chunker, "chunks")}:
            return None, f"{encoder!r} takes inputs other than the chunker's chunks"
        writers: list[tuple[str, bool]] = []
        for name in pipe.components:
            if name in (self.loader, chunker, encoder):
                continue
            feeds = [c for c in pipe.connections if c.receiver.component == name]
            allowed = {
                (chunker, "chunks", "chunks"),
                (encoder, "chunks", "chunks"),
                (self.loader, "empty", "delete_documents"),
            }
            shapes = {(c.sender.component, c.sender.socket, c.receiver.socket) for c in feeds}
            writer = isinstance(pipe.components[name], ChunkWriter)
            if not writer or not shapes <= allowed or _receivers(pipe, name):
                return None, f"{name!r} is not a writer of chunks"
            takes = {c.sender.component for c in feeds if c.receiver.socket == "chunks"}
            if len(takes) != 1:
                return None, f"{name!r} is not fed chunks by exactly one stage"
            writers.append((name, encoder in takes))
        if not writers:
            return None, "no writer stage"
        return RayDataStages(self.loader, chunker, encoder, tuple(writers)), ""


def _receivers(pipe: Pipeline, name: str) -> list[str]:
    return sorted({c.receiver.component for c in pipe.connections if c.sender.component == name})


def _feeds(pipe: Pipeline, name: str) -> set[tuple[str, str]]:
    return {
        (c.sender.component, c.sender.socket)
        for c in pipe.connections
        if c.receiver.component == name
    }


def _maps(pipe: Pipeline, name: str, inp: str, out: str, item: Any) -> bool:
    cls = type(pipe.components[name])
    ins, outs = cls.input_sockets(), cls.output_sockets()
    return (
        inp in ins and ins[inp].type == list[item] and out in outs and outs[out].type == list[Chunk]
    )
