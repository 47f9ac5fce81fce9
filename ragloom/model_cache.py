"""A cache for converted model artefacts, written atomically so no process sees half a model.

The bundled SmolLM2 ships as a quantised GGUF file; transformers dequantises it in ~30 s and
cannot `save_pretrained` the result, so the first load writes the state dict, config and
tokenizer into `$RAGLOOM_CACHE/models/<name>/` and every later load takes under a second.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ragloom.atomic import publish_dir

COMPLETE_MARKER = "ragloom-cache.json"


def cache_root() -> Path:
    """`$RAGLOOM_CACHE`, else `$XDG_CACHE_HOME/ragloom`, else `~/.cache/ragloom`."""
    explicit = os.environ.get("RAGLOOM_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ragloom"


def is_complete(entry: Path) -> bool:
    """True when every file the marker lists exists with its recorded size."""
    marker = entry / COMPLETE_MARKER
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(
        (entry / name).is_file() and (entry / name).stat().st_size == size
        for name, size in files.items()
    )


def cached_entry(name: str, build: Callable[[Path], object]) -> Path:
    """The cache folder `name`, building it with `build(tmp_dir)` first if missing or corrupt.

    The build happens in a temporary sibling folder that is renamed into place, so a
    concurrent reader sees either nothing or a complete entry; a corrupt entry (missing or
    truncated files) is rebuilt.
    """
    entry = cache_root() / "models" / name
    if is_complete(entry):
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=entry.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; a cache entry is plain readable data
        for path in tmp.iterdir():
            path.chmod(0o644)
        sizes = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        (tmp / COMPLETE_MARKER).write_text(json.dumps({"files": sizes}), encoding="utf-8")
        if entry.exists() and not is_complete(entry):
            shutil.rmtree(entry, ignore_errors=True)
        try:
            publish_dir(tmp, entry)
        except OSError:
            if not is_complete(entry):  # lost a race to a broken writer: surface it
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry
