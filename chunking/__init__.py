"""Chunkers with exact character spans and text encoders (installed as `ragloom.chunking`)."""

from ragloom.chunking.encoders import ChunkEncoder, QueryEncoder
from ragloom.chunking.token_window import TokenWindowChunker

__all__ = ["ChunkEncoder", "QueryEncoder", "TokenWindowChunker"]
