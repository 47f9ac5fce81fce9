"""Running the app with uvicorn: `ragloom serve` calls `serve(rag, settings)`.

SIGTERM (or Ctrl-C) stops accepting connections and lets requests in flight finish, for up to
`shutdown_timeout_s`; then the pipelines are closed and the process exits 0 (uvicorn would
raise the signal again once done, so the exit status would say "killed" after a clean stop).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from ragloom.pipeline.spec import load_yaml_file
from ragloom.rag import RAG
from ragloom.server.app import create_app
from ragloom.server.settings import ServerSettings, settings_from


def settings_for(config: str | Path | None, overrides: dict[str, Any]) -> ServerSettings:
    """The `serve:` block of a configuration file (if any) under the command-line flags."""
    block = None
    if config is not None:
        data, _ = load_yaml_file(config)
        block = data.get("serve") if isinstance(data, dict) else None
    return settings_from(block, overrides, f"{config}: serve" if config else "serve")


def uvicorn_options(settings: ServerSettings, log_level: str) -> dict[str, Any]:
    """What `ragloom serve` tells uvicorn, in one process or several."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "timeout_graceful_shutdown": int(settings.shutdown_timeout_s),
        "timeout_keep_alive": int(settings.keep_alive_s),
        # The app bounds requests itself (429 with Retry-After); uvicorn's own bound answers
        # 503 without a body.
        "limit_concurrency": None,
        "server_header": False,
    }


def serve(rag: RAG, settings: ServerSettings, log_level: str = "info") -> None:
    """Serve `rag` on `settings.host:settings.port` until SIGTERM or Ctrl-C."""
    app = create_app(rag, settings)
    config = uvicorn.Config(app, **uvicorn_options(settings, log_level))
    server = uvicorn.Server(config)
    service = app.state.service
    if service.on_ray:
        # Ray starts before the server listens: ray.init installs its own SIGTERM handler
        # (exit at once), which uvicorn must replace while it runs, not the other way round.
        service.warm()
    with stopped_quietly():
        server.run()


@contextlib.contextmanager
def stopped_quietly() -> Iterator[None]:
    """Make uvicorn's graceful stop on SIGTERM/SIGINT a normal return: uvicorn handles the
    signal while it runs, then raises it again with the handler it found, a no-op one here."""
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(signum: int, frame: object) -> None:
    """The signal uvicorn raises again after its graceful shutdown: nothing left to do."""
