"""Optional API keys: bearer tokens from an environment variable and/or a keys file.

No key configured: every request is let in. Otherwise `Authorization: Bearer KEY` must carry
one of them (compared in constant time), else 401. Keys are read once at start and are never
logged nor echoed in an error.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from fastapi import Request

from ragloom.errors import ConfigError
from ragloom.server.errors import ApiError
from ragloom.server.settings import ServerSettings


def read_keys_file(path: Path) -> list[str]:
    """One key a line; blank lines and `#` comments are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"api_keys_file {path}: cannot read it: {exc.strerror or exc}") from None
    keys = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [key for key in keys if key]


def load_keys(settings: ServerSettings) -> tuple[str, ...]:
    """Every accepted key: the environment variable's (comma-separated), then the file's."""
    keys = [k.strip() for k in os.environ.get(settings.api_keys_env, "").split(",") if k.strip()]
    if settings.api_keys_file is not None:
        from_file = read_keys_file(settings.api_keys_file)
        if not from_file:
            raise ConfigError(f"api_keys_file {settings.api_keys_file}: holds no key")
        keys.extend(from_file)
    return tuple(dict.fromkeys(keys))


class KeyCheck:
    """A FastAPI dependency letting in requests with an accepted bearer token."""

    def __init__(self, keys: tuple[str, ...]):
        self.keys = tuple(key.encode("utf-8") for key in keys)

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def accepts(self, header: str | None) -> bool:
        """True when `header` is `Bearer KEY` with an accepted KEY (or no key is configured)."""
        if not self.keys:
            return True
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        given = token.strip().encode("utf-8")
        # Every key is compared, so the time taken does not say which one came close.
        matches = [hmac.compare_digest(given, key) for key in self.keys]
        return any(matches)

    async def __call__(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if self.accepts(header):
            return
        message = (
            "missing API key: send `Authorization: Bearer <key>`"
            if not header
            else "invalid API key"
        )
        raise ApiError(401, message, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
