"""A model's Rust tokenizer for chunk boundaries, without importing transformers each run.

`AutoTokenizer` costs about 2 s a process (importing transformers and torch, then building the
tokenizer) against 20 ms for reading a `tokenizers` JSON, which at a re-index of 1 % of a
million documents is a fifth of the run. The backend tokenizer exactly as transformers
configures it is therefore saved once per model folder in the ragloom cache
(`ragloom.model_cache`), keyed by the folder, its files' sizes and times, and the transformers
version; any change makes a new entry. Hub ids and an unwritable cache load it directly.
"""

from __future__ import annotations

import hashlib
import logging
from importlib import metadata
from pathlib import Path
from typing import Any

from ragloom.model_cache import cached_entry
from ragloom.models import load_tokenizer, resolve_model_path

logger = logging.getLogger(__name__)
FILE = "tokenizer.json"


def _entry_name(folder: Path) -> str:
    """A cache entry name that changes whenever the folder's files or transformers change."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(folder.resolve()).encode("utf-8", "surrogatepass"))
    digest.update(metadata.version("transformers").encode())
    for path in sorted(folder.iterdir()):
        if path.is_file():
            stat = path.stat()
            digest.update(f"\0{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return f"tokenizer-{digest.hexdigest()}"


def load_backend_tokenizer(model: str) -> Any:
    """A private `tokenizers.Tokenizer` of `model` (as transformers builds it), from the cache
    when the model is a local folder."""
    from tokenizers import Tokenizer

    folder = Path(resolve_model_path(model))
    if folder.is_dir():
        try:
            entry = cached_entry(
                _entry_name(folder),
                lambda out: (out / FILE).write_text(_built(model), encoding="utf-8"),
            )
            return Tokenizer.from_file(str(entry / FILE))
        except OSError as exc:  # e.g. a read-only home: slower, not wrong
            logger.debug("tokenizer cache unavailable (%s); loading %s directly", exc, model)
    return Tokenizer.from_str(_built(model))


def _built(model: str) -> str:
    """The JSON of `model`'s Rust tokenizer as transformers configures it (exact spans need
    offsets, so a slow, Python-only tokenizer is refused)."""
    tokenizer = load_tokenizer(model)
    if not tokenizer.is_fast:
        raise ValueError(f"tokenizer of {model!r} is not a fast tokenizer; exact spans need one")
    return str(tokenizer.backend_tokenizer.to_str())
