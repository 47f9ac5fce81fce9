"""The index manifest: what encoded an index and which pipeline built it, as plain JSON.

Opening an index with a different encoder is a clear error instead of silently wrong results.
Written atomically (temp file + fsync + rename) so a reader never sees half a manifest. The
per-document table lives in the journal (`ragloom.indexing.journal`, SQLite), so that a batch
commit costs O(batch); format 1 kept it here and is migrated by the first writer that opens it.

Format 3 names a file's documents by the path given to `ragloom index` (`path_id`); formats 1
and 2 named them by their path relative to the working directory of the run that indexed them.
An index that held documents when a format-3 writer first opened it is marked `legacy_ids`:
each run checks the files it adds against their former ids (`check_former_ids`), until a
`--prune` run has replaced every document it kept (format 3 is written either way).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic

from ragloom.atomic import write_json_atomic
from ragloom.errors import ConfigError
from ragloom.index_dir import check_not_a_file

FORMAT_VERSION = 3
#: Format 1 held `documents` and `pending` in this file; it is still read (then migrated).
#: Formats 1 and 2 named documents relative to the working directory (see the module doc).
READABLE_VERSIONS = (1, 2, FORMAT_VERSION)
#: The first format whose file document ids do not depend on the working directory.
GIVEN_PATH_IDS = 3
FILENAME = "manifest.json"


class ManifestSchema(pydantic.BaseModel):
    """The shape `read_manifest` accepts; other keys are kept for forward compatibility."""

    model_config = pydantic.ConfigDict(extra="allow", strict=True)

    format_version: Literal[1, 2, 3]
    encoder: dict[str, Any] | None = None
    pipeline: dict[str, Any] | None = None
    updated: str | None = None
    documents: dict[str, str] | None = None  # format 1: {doc_id: content hash}
    pending: list[str] | None = None  # format 1: ids being rewritten
    #: Format 3: documents indexed before format 3 may still go by their former ids.
    legacy_ids: bool | None = None


_read_before: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}
_read_before_lock = threading.Lock()


def manifest_version(index_dir: Path) -> tuple[int, int, int] | None:
    """What identifies the manifest file now (inode, size, modification time): a run that
    committed to the index has replaced it. None while there is none."""
    try:
        info = (Path(index_dir) / FILENAME).stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def read_manifest_once(index_dir: Path) -> dict[str, Any] | None:
    """`read_manifest`, parsed again only when the file changed (commits replace it by a
    rename: a new inode); for per-query checks, where parsing a large index's manifest costs
    about a millisecond. The dict is shared: read it, never change it."""
    path = Path(index_dir) / FILENAME
    key = manifest_version(index_dir)
    if key is None:
        return read_manifest(index_dir)
    with _read_before_lock:
        seen = _read_before.get(path)
    if seen is not None and seen[0] == key:
        return seen[1]
    manifest = read_manifest(index_dir)
    if manifest is not None:
        with _read_before_lock:
            _read_before[path] = (key, manifest)
    return manifest


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest of an index directory, or None for a new index; a ConfigError naming the
    file and the field if it is not a manifest."""
    check_not_a_file(Path(index_dir))
    path = Path(index_dir) / FILENAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable index manifest ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: invalid index manifest: a JSON object is needed, not "
            f"{type(data).__name__} {_short(data)}; rebuild the index in a new --index-dir"
        )
    version = data.get("format_version")
    if "format_version" in data and (version not in READABLE_VERSIONS or version is True):
        raise ConfigError(
            f"{path}: index format {version!r} is not supported "
            f"(this ragloom writes {FORMAT_VERSION}); rebuild the index in a new --index-dir"
        )
    try:
        ManifestSchema.model_validate(data)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise ConfigError(
            f"{path}: invalid index manifest: field {field!r}: {error['msg']} "
            f"(got {_short(error.get('input'))}); rebuild the index in a new --index-dir"
        ) from None
    return data


def may_hold_legacy_ids(manifest: Mapping[str, Any] | None) -> bool:
    """True when documents of this index may go by an id relative to the working directory
    of the run that indexed them (formats 1 and 2, or a format-3 index marked `legacy_ids`);
    False for a new index."""
    if manifest is None:
        return False
    version = manifest.get("format_version", 1)
    return bool(manifest.get("legacy_ids")) or version < GIVEN_PATH_IDS


def _short(value: Any, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters so a message stays on one line."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_manifest(index_dir: Path, data: dict[str, Any]) -> None:
    """Atomically replace the manifest."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(index_dir / FILENAME, {**data, "format_version": FORMAT_VERSION})


def check_encoder(
    index_dir: Path,
    manifest: dict[str, Any] | None,
    encoder: dict[str, Any] | None,
    writing: bool = False,
) -> None:
    """Refuse to mix embeddings from two different encoders in one index, to encode for an
    index built without an encoder (`encoder: null`: it holds no vectors to search or extend),
    or, when `writing`, to index without an encoder into an index that has dense vectors (they
    would fall behind the documents)."""
    if manifest is None or "encoder" not in manifest:
        return
    if encoder is None:
        if writing and manifest["encoder"] is not None:
            raise ConfigError(
                f"the index in {index_dir} was built with encoder {manifest['encoder']} but "
                f"this configuration indexes without one, so its dense vectors would fall "
                f"behind; index with the configuration it was built with (-c FILE), or use "
                f"another --index-dir"
            )
        return
    if manifest["encoder"] is None:
        raise ConfigError(
            f"the index in {index_dir} was built without an encoder (no dense vectors) but this "
            f"configuration encodes with {encoder}; use the configuration it was indexed with "
            f"(-c FILE), another --index-dir, or re-index from scratch"
        )
    if manifest["encoder"] != encoder:
        raise ConfigError(
            f"the index in {index_dir} was built with encoder {manifest['encoder']} but this "
            f"configuration uses {encoder}; use another --index-dir or re-index from scratch"
        )
