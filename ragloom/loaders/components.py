"""The `file_loader` stage: text, Markdown, PDF, HTML, DOCX, JSONL and BEIR files into Documents.

Unreadable, binary, undecodable and empty files, documents a parser refuses (encrypted,
truncated, no text layer, a zip bomb), malformed JSONL records and documents over
`max_document_chars` (null: no limit) are skipped, logged and listed in the `skipped` output;
the run goes on without them. A missing path or a duplicate document id fails the stage.

Example YAML::

    loader:
      type: file_loader
      init_parameters: {extensions: [".md", ".txt"], recursive: true}
"""

from __future__ import annotations

import codecs
import logging
import os
from typing import Annotated, Any

from pydantic import Field

from ragloom.component import Component, output_types
from ragloom.errors import ComponentConfigError, Problem
from ragloom.loaders.files import (
    DEFAULT_EXTENSIONS,
    MAX_DOCUMENT_CHARS,
    check_extensions,
    iter_documents,
)
from ragloom.registry import register
from ragloom.types import Document

logger = logging.getLogger(__name__)

NonEmptyStr = Annotated[str, Field(min_length=1)]


@register("file_loader")
class FileLoader(Component):
    """Loads documents from files and folders, dispatching on extension (see `iter_documents`)."""

    def __init__(
        self,
        # A fresh validated copy is made per instance, so the list default is never shared.
        extensions: list[str] = list(DEFAULT_EXTENSIONS),  # noqa: B006
        recursive: bool = True,
        encoding: NonEmptyStr = "utf-8",
        jsonl_text_field: NonEmptyStr = "text",
        jsonl_id_field: NonEmptyStr = "id",
        max_document_chars: Annotated[int, Field(gt=0)] | None = MAX_DOCUMENT_CHARS,
    ):
        problems = [
            Problem(f"file_loader: {message}", field="extensions")
            for message in check_extensions(extensions)
        ]
        try:
            codecs.lookup(encoding)
        except LookupError:
            problems.append(
                Problem(f"file_loader: unknown encoding {encoding!r}", field="encoding")
            )
        if problems:
            raise ComponentConfigError(problems)
        self.extensions = list(extensions)
        self.recursive = recursive
        self.encoding = encoding
        self.jsonl_text_field = jsonl_text_field
        self.jsonl_id_field = jsonl_id_field
        self.max_document_chars = max_document_chars

    @output_types(documents=list[Document], skipped=list[str], empty=list[str])
    def run(self, paths: list[str]) -> dict[str, Any]:
        """Every document under `paths`, a "path: reason" line for each input skipped, and the
        ids of documents that are now empty (writers delete their old chunks)."""
        return self.load(paths)

    def load(self, paths: list[str], known: dict[bytes, str] | None = None) -> dict[str, Any]:
        """`run`'s outputs; with an index's `known` record keys (incremental indexing), also
        `recognised` (ids of unchanged JSONL records, not parsed and not in `documents`) and
        `record_keys` (`{doc_id: key}` of the documents, for the journal) and `files` (the
        name of each file read -> its absolute path: a document indexed from one of them may
        have moved to another)."""
        if isinstance(paths, str | os.PathLike):
            paths = [os.fspath(paths)]
        stream = iter_documents(
            paths,
            self.extensions,
            self.recursive,
            self.encoding,
            text_field=self.jsonl_text_field,
            id_field=self.jsonl_id_field,
            progress=True,
            known=known,
            max_chars=self.max_document_chars,
        )
        documents = list(stream)
        for entry in stream.skipped:
            logger.warning("file_loader skipped %s", entry)
        outputs: dict[str, Any] = {
            "documents": documents,
            "skipped": [str(entry) for entry in stream.skipped],
            "empty": list(stream.empty_ids),
        }
        if known is not None:
            outputs |= {"recognised": stream.recognised, "record_keys": stream.record_keys}
            outputs["files"] = {s.id: os.path.abspath(s.path) for s in stream.sources}
        return outputs
