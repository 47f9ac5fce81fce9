"""The in-flight bound applies to the app's /v1/ paths wherever the app is mounted."""

from __future__ import annotations

import pytest

from ragloom.server.limits import app_path


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/v1/query", "", "/v1/query"),
        ("/v1/query", "/", "/v1/query"),
        ("/tight/v1/query", "/tight", "/v1/query"),  # Ray Serve: the route prefix in path
        ("/v1/query", "/tight", "/v1/query"),  # servers that strip it themselves
        ("/tightly/v1/query", "/tight", "/tightly/v1/query"),  # not under the prefix
    ],
)
def test_app_path_drops_the_mount_prefix(path: str, root_path: str, expected: str) -> None:
    assert app_path({"type": "http", "path": path, "root_path": root_path}) == expected
