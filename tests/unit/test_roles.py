"""Stage roles: only chunk writers' `written` outputs count as chunks written, and only chunk
writers are asked how many chunks they store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragloom.component import Component, output_types
from ragloom.indexing.runner import written_counts
from ragloom.pipeline.graph import Pipeline
from ragloom.retrievers.bm25 import BM25Writer
from ragloom.retrievers.chroma import ChromaWriter
from ragloom.roles import ChunkWriter
from ragloom.types import Chunk, Document


class CountingStage(Component):
    """Not a writer: an extra integer output, and a `store` of its own."""

    store = property(lambda self: None)

    @output_types(tokens=int, written=int)
    def run(self, chunks: list[Chunk]) -> dict[str, Any]:
        return {"tokens": 7, "written": 3}


def _pipeline(declare_outputs: bool) -> Pipeline:
    pipe = Pipeline()
    pipe.add("bm25", BM25Writer())
    pipe.add("stats", CountingStage())
    pipe.add_input("chunks", "bm25.chunks", "stats.chunks")
    if declare_outputs:
        pipe.add_output("written", "bm25.written")
        pipe.add_output("tokens", "stats.tokens")
        pipe.add_output("also_written", "stats.written")
    return pipe


def test_the_writers_of_the_project_have_the_role() -> None:
    assert isinstance(BM25Writer(), ChunkWriter) and isinstance(ChromaWriter(), ChunkWriter)
    assert not isinstance(CountingStage(), ChunkWriter)


def test_only_chunk_writers_written_outputs_count(tmp_path: Path) -> None:
    doc = Document(text="alpha beta", id="d")
    chunks = [Chunk.from_span(doc, 0, len(doc.text), 0)]
    for declared in (True, False):
        pipe = _pipeline(declared)
        pipe.index_dir = tmp_path / str(declared)
        outputs = pipe.run({"chunks": chunks}).outputs
        assert len(outputs) == 3  # every output is there ...
        name = "written" if declared else "bm25.written"
        assert written_counts(pipe, outputs) == {name: 1}  # ... one of them counts


def test_chunk_counts_ask_only_chunk_writers(tmp_path: Path) -> None:
    from ragloom.rag import RAG

    rag = RAG.from_file(Path(__file__).parents[2] / "examples" / "bm25.yaml", tmp_path)
    rag.config.indexing.components["stats"] = CountingStage()
    assert rag.chunk_counts() == {"writer": 0}
