"""Document loaders (text, Markdown, JSONL, BEIR): plain functions and the `file_loader` stage."""

from ragloom.loaders.components import FileLoader
from ragloom.loaders.files import (
    DEFAULT_EXTENSIONS,
    DocumentStream,
    LoaderError,
    Skipped,
    UnreadableFileError,
    iter_documents,
    load_beir_corpus,
    load_jsonl,
    load_markdown,
    load_text,
    markdown_title,
    path_id,
    read_text,
)

__all__ = [
    "DEFAULT_EXTENSIONS",
    "DocumentStream",
    "FileLoader",
    "LoaderError",
    "Skipped",
    "UnreadableFileError",
    "iter_documents",
    "load_beir_corpus",
    "load_jsonl",
    "load_markdown",
    "load_text",
    "markdown_title",
    "path_id",
    "read_text",
]
