"""Index directory checks: a path that is a file, or a directory this process cannot write, is a
one-line message saying what to do, before any stage or lock touches it.

Example::

    prepare_index_dir(Path(".ragloom"))  # before writing: creates it, proves it writable
    check_not_a_file(Path(".ragloom"))  # before reading
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from ragloom.errors import ConfigError

CHOOSE = "choose another --index-dir"


def check_not_a_file(index_dir: Path) -> None:
    """Refuse an index directory that is a file, or that would lie under one."""
    index_dir = Path(index_dir)
    for path in (index_dir, *index_dir.parents):
        if path.exists():
            if path.is_dir():
                return
            if path == index_dir:
                raise ConfigError(f"index directory {index_dir} is a file: {CHOOSE}")
            raise ConfigError(f"index directory {index_dir} is under {path}, a file: {CHOOSE}")


def prepare_index_dir(index_dir: Path) -> None:
    """Create the index directory if needed and prove this process can write files in it."""
    index_dir = Path(index_dir)
    check_not_a_file(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=index_dir, prefix=".write-probe-")
        os.close(handle)
        os.unlink(probe)
    except PermissionError:
        raise ConfigError(
            f"cannot write to index directory {index_dir}: permission denied (check its "
            f"owner/permissions, or {CHOOSE})"
        ) from None
    except OSError as exc:
        reason = "read-only file system" if exc.errno == errno.EROFS else exc.strerror or exc
        raise ConfigError(
            f"cannot create or write index directory {index_dir}: {reason}; {CHOOSE}"
        ) from None
