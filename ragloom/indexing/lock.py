"""One writer per index directory: a file lock held for a whole indexing run.

Two `ragloom index` runs on one directory would interleave their batches and lose each
other's journal entries; the second one is refused instead, with a message naming the
holder (pid, host, command, start time), or, with `wait=True`, waits for the lock (and logs a
warning naming the holder, so a queued run does not look hung). The lock
is a `filelock` lock (flock on POSIX), so it is released when its holder dies, even by
`kill -9`; the holder's description is a plain JSON file beside it, informative only.

Example::

    with index_lock(index_dir, wait=False):
        ...  # write, commit
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from ragloom.errors import ConfigError
from ragloom.index_dir import prepare_index_dir

LOCK_FILE = ".write.lock"
HOLDER_FILE = ".write.holder.json"
logger = logging.getLogger(__name__)


def _holder(index_dir: Path) -> str:
    """Who holds the lock, as its holder wrote it (or why that is unknown)."""
    try:
        data = json.loads((index_dir / HOLDER_FILE).read_text(encoding="utf-8"))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(data["started"])))
        return f"pid {data['pid']} on {data['host']} (`{data['command']}`, since {started})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not said which)"


@contextlib.contextmanager
def index_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """Hold the index directory's writer lock; a ConfigError naming the holder if it is
    taken and `wait` is False."""
    index_dir = Path(index_dir)
    prepare_index_dir(index_dir)  # a file, or unwritable: say so (filelock would just time out)
    lock = FileLock(index_dir / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise ConfigError(
                f"{index_dir} is being written by {_holder(index_dir)}; one writer at a time: "
                f"wait for it to finish, or pass --wait to queue behind it"
            ) from None
        logger.warning("%s is being written by %s; waiting for it", index_dir, _holder(index_dir))
        lock.acquire()
    try:
        command = " ".join(os.path.basename(a) if n == 0 else a for n, a in enumerate(sys.argv))
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command[:300],
            "started": time.time(),
        }
        (index_dir / HOLDER_FILE).write_text(json.dumps(holder), encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            (index_dir / HOLDER_FILE).unlink()
        lock.release()
