"""Build an indexing and a query pipeline in Python, index the sample corpus, ask a question.

Run: python examples/sdk_quickstart.py [INDEX_DIR]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ragloom import Pipeline
from ragloom.chunking import ChunkEncoder, QueryEncoder, TokenWindowChunker
from ragloom.generation import ExtractiveAnswerer
from ragloom.loaders import FileLoader
from ragloom.retrievers.bm25 import BM25Retriever, BM25Writer
from ragloom.retrievers.chroma import ChromaRetriever, ChromaWriter
from ragloom.retrievers.fusion import ScoreFusion

CORPUS = Path(__file__).parent / "corpus"


def build_indexing(index_dir: Path) -> Pipeline:
    pipe = Pipeline(index_dir=index_dir)
    pipe.add("loader", FileLoader())
    pipe.add("chunker", TokenWindowChunker(chunk_size=128, overlap=16))
    pipe.add("encoder", ChunkEncoder(model="minilm"))
    pipe.add("dense_writer", ChromaWriter())
    pipe.add("bm25_writer", BM25Writer())
    pipe.connect("loader.documents", "chunker.documents")
    pipe.connect("chunker.chunks", "encoder.chunks")
    pipe.connect("encoder.chunks", "dense_writer.chunks")
    pipe.connect("chunker.chunks", "bm25_writer.chunks")
    # Files that became empty: their old chunks are deleted, not left searchable.
    pipe.connect("loader.empty", "dense_writer.delete_documents")
    pipe.connect("loader.empty", "bm25_writer.delete_documents")
    pipe.add_input("paths", "loader.paths")
    return pipe


def build_query(index_dir: Path) -> Pipeline:
    pipe = Pipeline(index_dir=index_dir)
    pipe.add("query_encoder", QueryEncoder(model="minilm"))
    pipe.add("dense", ChromaRetriever(top_k=100))
    pipe.add("bm25", BM25Retriever(top_k=100))
    # Min-max normalised scores, 0.5 BM25 + 0.5 dense: examples/hybrid-chunks.yaml in Python.
    pipe.add("fusion", ScoreFusion(method="minmax", weights={"bm25": 0.5, "dense": 0.5}, top_k=5))
    pipe.add("answerer", ExtractiveAnswerer())
    pipe.connect("query_encoder.embedding", "dense.query_embedding")
    pipe.connect("dense.hits", "fusion.hits")
    pipe.connect("bm25.hits", "fusion.hits")
    pipe.connect("fusion.hits", "answerer.hits")
    pipe.add_input("query", "query_encoder.query", "bm25.query", "answerer.question")
    pipe.add_output("hits", "fusion.hits")
    pipe.add_output("answer", "answerer.answer")
    return pipe


def main() -> None:
    index_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "index"
    build_indexing(index_dir).run({"paths": [str(CORPUS)]})
    result = build_query(index_dir).run({"query": "What parameters does BM25 have?"})
    print(result["answer"].text)
    for n, hit in enumerate(result["hits"], start=1):
        print(f"[{n}] {hit.score:.4f} {hit.chunk.doc_id} {hit.source_ranks}")
    print({stage: round(seconds, 3) for stage, seconds in result.timings.items()})
    print(build_query(index_dir).to_yaml())


if __name__ == "__main__":
    main()
