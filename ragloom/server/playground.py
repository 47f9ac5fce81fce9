"""The playground page at `GET /`: ask the served pipeline and watch the answer stream in.

One self-contained HTML file (inline CSS and JS, nothing fetched from any other host) that calls
`/v1/models` and `/v1/chat/completions` with `stream: true`, then shows the numbered citations
with their spans, the hits with each retriever's rank and score, and the per-stage timings.
The page itself needs no API key (it holds no data); the endpoints it calls check the key the
user types into it.

Example::

    app = FastAPI()
    mount_playground(app)
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

PAGE = "playground.html"


def playground_html() -> str:
    """The page's HTML, read from the installed package (package data)."""
    return resources.files("ragloom.server").joinpath(PAGE).read_text(encoding="utf-8")


def mount_playground(app: FastAPI) -> None:
    """Serve the playground at `GET /` (read once here, so a missing file fails at start)."""
    html = playground_html()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def playground() -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
