"""What changed since an index was built: its pipeline, which file a document comes from, and
the id an earlier ragloom gave a file.

Chunks depend on every stage after the loader (chunker, encoder, writers: their types,
settings and connections); what the loader reads is covered by each document's content hash.
A change there makes every stored chunk stale, so the run re-indexes every document it loads
instead of calling unchanged documents unchanged (and the manifest then describes the chunks
truthfully). Executor settings and declared outputs change nothing stored and are ignored.

A file's documents are named by the path given to `ragloom index` (`ragloom.loaders.path_id`);
before manifest format 3 they were named by the path relative to the working directory, so an
index from then may hold a file under another id than the one this run gives it. On such an
index (`Journal.legacy_ids`) a run that would add a document the index holds under a former id
is refused before anything is written, instead of leaving the document twice.

Example::

    pipeline_changes(manifest["pipeline"], pipeline.to_dict(), "loader")
    # ["chunker: chunk_size 512 -> 64"]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
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


def check_moves(
    documents: list[Document], files: Mapping[str, str | None], journal: Journal
) -> None:
    """Refuse a document whose id is indexed from another file that this run did not read:
    ids are unique across files, in one run (the loader refuses) and across runs alike. (A
    record moved between two files read in the same run is fine, and so is a file indexed
    under another name: given on its own before, through its folder now, or named from the
    working directory by an earlier ragloom.) `files`: the name of each file read -> its path
    (None: unknown)."""
    indexed = journal.sources([doc.id for doc in documents])
    clashes = [
        (doc.id, source, indexed[doc.id])
        for doc in documents
        if doc.id in indexed
        and (source := str(doc.metadata.get("source", ""))) != indexed[doc.id]
        and indexed[doc.id] not in files
    ]
    if clashes:  # indexed from a file read now, under another of its names?
        renamed = _names_of_files_read({clash[2] for clash in clashes}, files)
        clashes = [clash for clash in clashes if clash[2] not in renamed]
    if clashes:
        doc_id, source, first = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise ConfigError(
            f"duplicate document id {doc_id!r}: in {source}, and already indexed from {first}"
            f"{more}; ids must be unique across files: rename one, or index {first} in the "
            f"same run if the record moved out of it"
        )


def _names_of_files_read(names: set[str], files: Mapping[str, str | None]) -> set[str]:
    """Those of `names` that are names of a file read (`file_names`); only files with the same
    base name are looked at."""
    endings = {name.rpartition("/")[2] for name in names}
    found: set[str] = set()
    for path in files.values():
        if path and endings & {os.path.basename(path), os.path.basename(os.path.realpath(path))}:
            found.update(names.intersection(file_names(path)))
    return found


def file_names(path: str) -> list[str]:
    """Every name the file at `path` may be indexed under: its POSIX path from any folder above
    it (the folder given to `ragloom index`, or before manifest format 3 the working directory
    of the run), or its absolute path (format 2, outside the working directory); the same
    again with symbolic links resolved."""
    names: dict[str, None] = {}
    for full in (Path(os.path.abspath(path)), Path(os.path.realpath(path))):
        parts = full.parts[1:]  # below the root
        names.update(("/".join(parts[start:]), None) for start in range(len(parts)))
        names[full.as_posix()] = None
    return list(names)


def check_former_ids(
    documents: list[Document],
    empty: Iterable[str],
    recognised: Iterable[str],
    files: Mapping[str, str | None],
    known: Collection[str],
    journal: Journal,
) -> None:
    """On an index marked `legacy_ids`, refuse a run that would add a document the index holds
    under a former id of its file (see the module doc): that copy would stay beside it.

    Only documents named after their file are looked for: a text or Markdown file's, and a
    JSONL record numbered by its line (`file:line`); an id a record carries never changed.
    `files`: the id of each file read -> its path; `known`: the ids the index holds of this
    run's documents (they are not added)."""
    if not journal.legacy_ids:
        return
    empty = list(empty)
    named = [(doc.id, str(doc.metadata.get("source", ""))) for doc in documents]
    wanted: dict[str, str] = {}  # a former id -> the document's id now
    for doc_id, source in [*named, *((doc_id, doc_id) for doc_id in empty)]:
        path = files.get(source)
        if doc_id in known or path is None:
            continue
        if doc_id == source:
            line = ""
        elif doc_id.startswith(f"{source}:"):
            line = doc_id[len(source) :]
        else:
            continue
        for name in file_names(path):
            if f"{name}{line}" != doc_id:
                wanted.setdefault(f"{name}{line}", doc_id)
    if not wanted:
        return
    seen = {doc_id for doc_id, _ in named} | set(empty) | set(recognised)
    twins = sorted((wanted[old], old) for old in journal.hashes(wanted) if old not in seen)
    if twins:
        new, old = twins[0]
        more = f" (and {len(twins) - 1} more)" if len(twins) > 1 else ""
        raise ConfigError(
            f"{journal.index_dir} was indexed by an earlier ragloom, which named files by their "
            f"path from the working directory: it holds {old!r}, which this run names {new!r}"
            f"{more}, and would keep both; index again with --prune and every path the index "
            f"should hold (renamed documents are written again under their new id), or into "
            f"a fresh --index-dir"
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
