"""Chunkers with exact character spans and text encoders (installed as `ragloom.chunking`)."""

from ragloom.chunking.document import DocumentChunker
from ragloom.chunking.encoders import ChunkEncoder, QueryEncoder
from ragloom.chunking.hashing import HashingEncoder, HashingQueryEncoder
from ragloom.chunking.late import LateChunkingEncoder
from ragloom.chunking.recursive import RecursiveChunker
from ragloom.chunking.sections import SectionChunker
from ragloom.chunking.sentences import SentenceChunker
from ragloom.chunking.token_window import TokenWindowChunker

__all__ = [
    "ChunkEncoder",
    "DocumentChunker",
    "HashingEncoder",
    "HashingQueryEncoder",
    "LateChunkingEncoder",
    "QueryEncoder",
    "RecursiveChunker",
    "SectionChunker",
    "SentenceChunker",
    "TokenWindowChunker",
]
