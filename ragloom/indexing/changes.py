"""What changed since an index was built: its pipeline, and which file a document comes from.

Chunks depend on every stage after the loader (chunker, encoder, writers: their types,
settings and connections); what the loader reads is covered by each document's content hash.
A change there makes every stored chunk stale, so the run re-indexes every document it loads
instead of calling unchanged documents unchanged (and the manifest then describes the chunks
truthfully). Executor settings and declared outputs change nothing stored and are ignored.

Example::

    pipeline_changes(manifest["pipeline"], pipeline.to_dict(), "loader")
    # ["chunker: chunk_size 512 -> 64"]
"""

from __future__ import annotations

import logging
from typing import Any

from ragloom.errors import ConfigError
from ragloom.indexing.journal import Journal
from ragloom.types import Document

logger = logging.getLogger(__name__)


def _stored_part(pipeline: dict[str, Any], loader: str) -> tuple[dict[str, Any], list[Any]]:
    components = {
        name: spec for name, spec in (pipeline.get("components") or {}).items() if name != loader
    }
    return components, list(pipeline.get("connections") or [])


def _links(connections: list[Any]) -> set[tuple[str, str]]:
    return {
        (str(c.get("sender")), str(c.get("receiver"))) for c in connections if isinstance(c, dict)
    }


def pipeline_changes(previous: Any, current: dict[str, Any], loader: str) -> list[str]:
    """One line per difference that makes stored chunks stale; [] when nothing did (or when
    there is no previous pipeline to compare with)."""
    if not isinstance(previous, dict):
        return []
    before, before_links = _stored_part(previous, loader)
    after, after_links = _stored_part(current, loader)
    changes = [f"{name}: removed" for name in before if name not in after]
    changes += [f"{name}: added" for name in after if name not in before]
    for name in before.keys() & after.keys():
        old, new = before[name] or {}, after[name] or {}
        if old.get("type") != new.get("type"):
            changes.append(f"{name}: type {old.get('type')} -> {new.get('type')}")
            continue
        old_params = old.get("init_parameters") or {}
        new_params = new.get("init_parameters") or {}
        for key in sorted(old_params.keys() | new_params.keys()):
            if old_params.get(key) != new_params.get(key):
                changes.append(f"{name}: {key} {old_params.get(key)!r} -> {new_params.get(key)!r}")
    if _links(before_links) != _links(after_links):
        changes.append("connections changed")
    return sorted(changes)


def check_moves(documents: list[Document], files: set[str], journal: Journal) -> None:
    """Refuse a document whose id is indexed from another file that this run did not read:
    ids are unique across files, in one run (the loader refuses) and across runs alike. (A
    record moved between two files read in the same run is fine.)"""
    indexed = journal.sources([doc.id for doc in documents])
    clashes = [
        (doc.id, source, indexed[doc.id])
        for doc in documents
        if doc.id in indexed
        and (source := str(doc.metadata.get("source", ""))) != indexed[doc.id]
        and indexed[doc.id] not in files
    ]
    if clashes:
        doc_id, source, first = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise ConfigError(
            f"duplicate document id {doc_id!r}: in {source}, and already indexed from {first}"
            f"{more}; ids must be unique across files: rename one, or index {first} in the "
            f"same run if the record moved out of it"
        )


def warn_left_stale(known: dict[str, str], documents: list[Document], empty: list[str]) -> None:
    """After a pipeline change: name the indexed documents this run did not load (their chunks
    stay as the old pipeline made them)."""
    loaded = {doc.id for doc in documents} | set(empty)
    left = sorted(doc_id for doc_id in known if doc_id not in loaded)
    if left:
        logger.warning(
            "%d indexed document(s) were not in this run's input and keep chunks made by the "
            "previous pipeline (e.g. %s): index them too, or pass --prune to drop them",
            len(left),
            ", ".join(left[:3]),
        )
