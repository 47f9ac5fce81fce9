"""Retrieval stages: BM25, dense Chroma, fusion (installed as `ragloom.retrievers`)."""
