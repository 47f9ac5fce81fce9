"""The `ragloom serve` application: `create_app(rag, settings)` builds the FastAPI app.

The app is a thin HTTP layer over `RagService` (pipelines built and warmed once, run on worker
threads), so the same factory can serve behind uvicorn (`ragloom serve`) or as an ingress
elsewhere. Routes: the OpenAI-compatible `/v1/models` and `/v1/chat/completions`; ragloom's
`/v1/query`, `/v1/retrieve` and `/v1/documents`; `/healthz`, `/readyz`, `/metrics`; the
OpenAPI docs at `/docs`. Every error has OpenAI's error body (`ragloom.server.errors`).

Example::

    from ragloom.rag import RAG
    from ragloom.server.app import create_app
    from ragloom.server.settings import ServerSettings

    app = create_app(RAG.from_file("examples/bm25.yaml", index_dir="idx"), ServerSettings())
    # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response

from ragloom.rag import RAG
from ragloom.server.api import ragloom_router
from ragloom.server.auth import KeyCheck, load_keys
from ragloom.server.chat import chat_router
from ragloom.server.errors import ApiError, install_error_handlers
from ragloom.server.limits import BodyLimit, InFlightLimit
from ragloom.server.metrics import MetricsMiddleware, ServerMetrics
from ragloom.server.service import RagService
from ragloom.server.settings import ServerSettings

logger = logging.getLogger(__name__)

#: The browser page other code may add at `/` (`mount_playground(app)`), if it is installed.
PLAYGROUND_MODULE = "ragloom.server.playground"


def mount_optional_playground(app: FastAPI) -> None:
    """Serve the playground page when its module exists (it is optional)."""
    try:
        module = importlib.import_module(PLAYGROUND_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != PLAYGROUND_MODULE:
            raise
        return
    module.mount_playground(app)


def create_app(
    rag: RAG, settings: ServerSettings | None = None, service: RagService | None = None
) -> FastAPI:
    """The HTTP app serving `rag` (its pipelines are warmed when the app starts)."""
    settings = settings or ServerSettings()
    service = service or RagService(rag, settings, ServerMetrics())
    metrics = service.metrics
    auth = KeyCheck(load_keys(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service.on_ray:
            service.warm()  # Ray starts on the main thread
        else:  # load models in the background: /healthz answers meanwhile
            threading.Thread(target=service.warm, name="ragloom-warm-up", daemon=True).start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="ragloom",
        summary="RAG pipelines over HTTP: OpenAI-compatible chat with citations, retrieval, "
        "incremental indexing.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    install_error_handlers(app)

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Models loaded and the index open")
    async def readyz() -> Any:
        if not service.ready:
            await service.call(service.warm, False)
        if not service.ready:
            raise ApiError(
                503,
                f"not ready: {service.warm_error}",
                "not_ready",
                headers={"Retry-After": str(settings.retry_after_s)},
            )
        return JSONResponse(
            {"status": "ready", "model": settings.model_name, "index_dir": str(rag.index_dir)}
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (text format)")
    async def prometheus(_: None = Depends(auth)) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.include_router(chat_router(service, auth))
    app.include_router(ragloom_router(service, auth))
    mount_optional_playground(app)
    # Added last = outermost: metrics see every answer, a 429 and a 413 included.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        InFlightLimit, limit=settings.max_in_flight, retry_after_s=settings.retry_after_s
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics, templates=lambda: app.openapi()["paths"])
    return app
