"""Deciding what an indexing run must do: compare loaded documents with the index manifest.

A document is *unchanged* when the manifest holds its id with the same content hash
(`Document.hash`: text + metadata, never file timestamps), *added* when its id is not in the
manifest, *updated* when the hash differs. Only added and updated documents are chunked,
encoded and written. *Deleted* documents are removed from every writer without new chunks:
those that are now empty, those left half-written by an interrupted run (`pending` in the
manifest) that are no longer in the input, and, with `prune=True`, every manifest document
this run did not see. Documents the loader *recognised* by their record key (the raw record is
the one committed, see `ragloom.loaders.record_keys`) are unchanged without being loaded.

Example::

    plan = plan_documents(documents, empty=[], skipped=[], known=manifest["documents"])
    print(len(plan.write), "to write,", len(plan.unchanged), "unchanged")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ragloom.types import Document


@dataclass
class IndexPlan:
    """What to write and what to delete; the id lists name documents for the report."""

    write: list[Document] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: Ids whose chunks every writer drops (and gets no new chunk for).
    delete: list[str] = field(default_factory=list)
    #: The ids in `delete` that the index held (what the report counts as deleted).
    deleted: list[str] = field(default_factory=list)
    #: The content hash of each document in `write` (computed once, committed after writing).
    hashes: dict[str, str] = field(default_factory=dict)
    #: The record key of each document in `write` that has one (committed with its hash).
    record_keys: dict[str, bytes] = field(default_factory=dict)
    #: Record keys of unchanged documents that were loaded, not recognised: their stored key
    #: is missing or stale (e.g. an index from before keys), so the journal updates it.
    rekey: dict[str, bytes] = field(default_factory=dict)


def kept_by_skip(doc_id: str, skipped: Iterable[str]) -> bool:
    """True when a skipped entry ("path: reason") names this document's id (a txt/md path)."""
    return any(entry.startswith(f"{doc_id}: ") for entry in skipped)


def plan_documents(
    documents: list[Document],
    empty: Iterable[str],
    skipped: Iterable[str],
    known: Mapping[str, str],
    pending: Iterable[str] = (),
    prune: bool = False,
    recognised: Iterable[str] = (),
    record_keys: Mapping[str, bytes] | None = None,
    rewrite: bool = False,
) -> IndexPlan:
    """Classify loaded documents against the manifest's `{doc_id: hash}` (see module doc).

    `prune` deletes the manifest documents this run neither loaded nor reported as empty,
    except one whose id is the path of a file skipped this run (an unreadable file keeps its
    old chunks until it is readable again or removed). `recognised` ids are unchanged
    documents that were not loaded; `record_keys` are the loaded documents' keys. With
    `rewrite` (the pipeline changed), every loaded document is written again.
    """
    plan = IndexPlan()
    skipped = list(skipped)
    pending_ids = set(pending)
    plan.unchanged = list(recognised)
    seen: set[str] = set(plan.unchanged)
    for doc in documents:
        seen.add(doc.id)
        stored = known.get(doc.id)
        digest = doc.hash
        if stored == digest and doc.id not in pending_ids and not rewrite:
            plan.unchanged.append(doc.id)
            if record_keys and doc.id in record_keys:
                plan.rekey[doc.id] = record_keys[doc.id]
            continue
        (plan.added if stored is None else plan.updated).append(doc.id)
        plan.write.append(doc)
        plan.hashes[doc.id] = digest
        if record_keys and doc.id in record_keys:
            plan.record_keys[doc.id] = record_keys[doc.id]
    doomed: list[str] = []
    for doc_id in empty:
        if doc_id not in seen:
            seen.add(doc_id)
            doomed.append(doc_id)
    doomed.extend(sorted(i for i in pending_ids if i not in seen))
    if prune:
        doomed.extend(
            sorted(
                doc_id
                for doc_id in known
                if doc_id not in seen
                and doc_id not in pending_ids
                and not kept_by_skip(doc_id, skipped)
            )
        )
    plan.delete = list(dict.fromkeys(doomed))
    plan.deleted = [i for i in plan.delete if i in known or i in pending_ids]
    return plan
