"""Durable, atomic file replacement: the one way ragloom writes a file that readers may open.

The content goes to a hidden temporary file in the same folder, is flushed and fsynced, then
renamed over the target, and the folder is fsynced so the rename survives a power loss. A
reader (or a process killed mid-write) sees the old file or the new one, never half of one.

A folder (a cached model, a trained model) is built in a temporary sibling and published with
`publish_dir`: every file fsynced, then renamed into place, the parent fsynced.

Example::

    write_json_atomic(index_dir / "manifest.json", {"format_version": 2})
    write_atomic(path, lambda handle: handle.write(payload))
    publish_dir(staged, model_dir)  # staged: a filled temporary sibling of model_dir
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Replace `path` with what `write(handle)` writes to a binary handle, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as indented, key-sorted JSON, atomically."""
    payload = json.dumps(data, indent=2, sort_keys=True).encode("utf-8")
    write_atomic(path, lambda handle: handle.write(payload))


def publish_dir(staged: Path, target: Path) -> None:
    """Rename the finished folder `staged` to `target` (a sibling that must not exist) once
    every file in it is on disk, so a crash never leaves a complete-looking, truncated folder;
    the rename's OSError (say, `target` appeared meanwhile) is the caller's to handle."""
    for folder, _, files in os.walk(staged):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))
    os.rename(staged, target)
    fsync_dir(Path(target).parent)
