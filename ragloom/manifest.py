"""The index manifest: what encoded an index and which documents it holds, as plain JSON.

Opening an index with a different encoder is a clear error instead of silently wrong results.
Written atomically (temp file + rename) so a reader never sees half a manifest.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ragloom.errors import ConfigError

FORMAT_VERSION = 1
FILENAME = "manifest.json"


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest of an index directory, or None for a new index."""
    path = Path(index_dir) / FILENAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable index manifest ({exc})") from None
    if data.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{path}: index format {data.get('format_version')!r} is not supported "
            f"(this ragloom writes {FORMAT_VERSION}); rebuild the index in a new --index-dir"
        )
    return data


def write_manifest(index_dir: Path, data: dict[str, Any]) -> None:
    """Atomically replace the manifest."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, **data}
    fd, tmp = tempfile.mkstemp(dir=index_dir, prefix=".manifest-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
    os.replace(tmp, index_dir / FILENAME)


def check_encoder(
    index_dir: Path, manifest: dict[str, Any] | None, encoder: dict[str, Any] | None
) -> None:
    """Refuse to mix embeddings from two different encoders in one index."""
    if manifest is None or encoder is None or manifest.get("encoder") is None:
        return
    if manifest["encoder"] != encoder:
        raise ConfigError(
            f"the index in {index_dir} was built with encoder {manifest['encoder']} but this "
            f"configuration uses {encoder}; use another --index-dir or re-index from scratch"
        )
