"""Rerankers (installed as `ragloom.rerank`); the cross-encoder stage lands with the hybrid issue."""
