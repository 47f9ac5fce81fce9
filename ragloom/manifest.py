"""The index manifest: what encoded an index and which pipeline built it, as plain JSON.

Opening an index with a different encoder is a clear error instead of silently wrong results.
Written atomically (temp file + fsync + rename) so a reader never sees half a manifest. The
per-document table lives in the journal (`ragloom.indexing.journal`, SQLite), so that a batch
commit costs O(batch); format 1 kept it here and is migrated by the first writer that opens it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ragloom.errors import ConfigError

FORMAT_VERSION = 2
#: Format 1 held `documents` and `pending` in this file; it is still read (then migrated).
READABLE_VERSIONS = (1, FORMAT_VERSION)
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
    if not isinstance(data, dict) or data.get("format_version") not in READABLE_VERSIONS:
        version = data.get("format_version") if isinstance(data, dict) else None
        raise ConfigError(
            f"{path}: index format {version!r} is not supported "
            f"(this ragloom writes {FORMAT_VERSION}); rebuild the index in a new --index-dir"
        )
    return data


def write_manifest(index_dir: Path, data: dict[str, Any]) -> None:
    """Atomically replace the manifest."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    payload = {**data, "format_version": FORMAT_VERSION}
    fd, tmp = tempfile.mkstemp(dir=index_dir, prefix=".manifest-", suffix=".json.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
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
