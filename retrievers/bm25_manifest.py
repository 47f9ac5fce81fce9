"""The BM25 store's manifest: the format and the settings an index was built with.

A store is only read back with the tokenizer and scoring it was written with; a requested
setting that differs is an error naming the stage, the field and both values, and with no
settings requested the store adopts the index's own.

Example::

    settings = checked_settings(path, read_manifest(path), None, "bm25", path.parent)
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from ragloom.errors import ConfigError, Problem
from ragloom.retrievers.bm25_scoring import TOKENIZER_SETTINGS, BM25Settings, Tokenizer

FORMAT = "ragloom-bm25"
#: 2: segments + catalogue. 1 (chunks.jsonl + one bm25s folder) is read, then migrated.
FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"


def describe(settings: BM25Settings) -> dict[str, Any]:
    """The settings as the manifest records them."""
    return {"tokenizer": settings.tokenizer.settings(), "scoring": settings.scoring()}


def manifest_record(settings: BM25Settings) -> dict[str, Any]:
    """The manifest of a new store."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, **describe(settings)}


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest as a dict; None if there is none; a ConfigError if it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable BM25 manifest ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: unreadable BM25 manifest (not an object)")
    return data


def checked_settings(
    path: Path,
    data: dict[str, Any],
    requested: BM25Settings | None,
    label: str,
    directory: Path,
) -> BM25Settings:
    """The settings to use with the index `data` describes: its own when none are requested,
    else the requested ones if they agree; a ConfigError for another format or a mismatch."""
    if data.get("format") != FORMAT or data.get("format_version") not in (1, FORMAT_VERSION):
        key = "format" if data.get("format") != FORMAT else "format_version"
        raise ConfigError(
            f"{path}: {key} is {data.get(key)!r} but this ragloom reads {FORMAT!r} version "
            f"{FORMAT_VERSION}; rebuild the BM25 index (delete {directory})"
        )
    try:
        tokenizer = Tokenizer.from_settings(data.get("tokenizer"))
    except ConfigError as exc:
        raise ConfigError(f"{path}: the index's tokenizer: {exc}") from None
    if tokenizer is None:
        raise ConfigError(
            f"{path}: tokenizer is {data.get('tokenizer')!r}, which this ragloom cannot "
            f"reproduce (it reads {TOKENIZER_SETTINGS!r} plus optional stopwords and "
            f"stemmer); rebuild the BM25 index (delete {directory})"
        )
    built: dict[str, Any] = {"stopwords": tokenizer.stopwords, "stemmer": tokenizer.stemmer}
    scoring = data.get("scoring")  # absent in indexes written before it was recorded
    if isinstance(scoring, dict):
        built.update({k: scoring[k] for k in ("backend", "k1", "b", "epsilon") if k in scoring})
    if requested is None:
        try:
            return replace(BM25Settings(), **built)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    wanted = requested.fields()
    problems = [
        Problem(
            f"{label}: {name} is {wanted[name]!r} but the BM25 index in {directory} was built "
            f"with {name}={value!r}; writer and retriever must agree: set {name}: {value!r}, "
            f"or delete {directory} to rebuild the index",
            component=label,
            field=name,
        )
        for name, value in built.items()
        if wanted[name] != value
    ]
    if problems:
        raise ConfigError(problems)
    return requested
