"""`ragloom serve`: a RAG application over HTTP (OpenAI-compatible chat, retrieval, indexing).

An application on top of the SDK: it imports `ragloom.rag` and below, and only the CLI imports
it. `create_app` (ragloom.server.app) builds the FastAPI app; `serve` (ragloom.server.run) runs
it with uvicorn.
"""
