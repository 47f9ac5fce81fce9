"""Test layers: unit tests get no network at all; integration tests may only reach loopback."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Converted models (SmolLM2 from its GGUF) are cached inside the checkout, not in ~/.cache.
os.environ.setdefault(
    "RAGLOOM_CACHE", str(Path(__file__).resolve().parents[1] / ".ragloom-test-cache")
)

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
LOOPBACK = ("127.", "::1", "localhost")


class NetworkBlocked(RuntimeError):
    """Raised when a test tries to open a connection it is not allowed to."""


def _guard(allow_loopback: bool):
    def check(sock: socket.socket, address: object) -> None:
        if sock.family == socket.AF_UNIX:
            return
        host = address[0] if isinstance(address, tuple) else str(address)
        if allow_loopback and str(host).startswith(LOOPBACK):
            return
        raise NetworkBlocked(f"network access blocked in tests: connect to {address!r}")

    def connect(sock: socket.socket, address: object) -> None:
        check(sock, address)
        return _real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        check(sock, address)
        return _real_connect_ex(sock, address)

    return connect, connect_ex


@pytest.fixture(autouse=True)
def _block_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unmarked (unit) tests may not open any socket; integration tests only loopback ones."""
    allow_loopback = request.node.get_closest_marker("integration") is not None
    connect, connect_ex = _guard(allow_loopback)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
