"""The playground page: served at `GET /` without a key, and self-contained (no other host)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ragloom.server.playground import mount_playground, playground_html


def test_page_is_served_at_the_root() -> None:
    app = FastAPI()
    mount_playground(app)
    response = TestClient(app).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == playground_html()
    assert "<title>ragloom playground</title>" in response.text


def test_page_loads_nothing_from_another_host() -> None:
    html = playground_html()
    assert not re.search(r"(?i)\b(?:https?|wss?|ftp):|//[a-z0-9.-]+\.[a-z]{2,}/", html)
    assert not re.search(r"(?i)<(?:script|link|img|iframe)[^>]*\b(?:src|href)=\"(?!data:)", html)
    # The browser enforces it too: only this server may be fetched.
    assert "default-src 'none'; connect-src 'self'" in html
