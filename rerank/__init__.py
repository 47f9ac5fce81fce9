"""Rerankers (installed as `ragloom.rerank`); the cross-encoder lands with hybrid retrieval."""
