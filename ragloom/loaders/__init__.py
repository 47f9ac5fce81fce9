"""Document loaders (text, Markdown, PDF, HTML, DOCX, JSONL, BEIR): functions and `file_loader`."""

from ragloom.loaders.components import FileLoader
from ragloom.loaders.files import (
    DEFAULT_EXTENSIONS,
    DocumentStream,
    LoaderError,
    Skipped,
    UnreadableFileError,
    iter_documents,
    load_beir_corpus,
    load_document,
    load_jsonl,
    load_markdown,
    load_text,
    path_id,
    read_text,
)
from ragloom.loaders.markdown import markdown_title

__all__ = [
    "DEFAULT_EXTENSIONS",
    "DocumentStream",
    "FileLoader",
    "LoaderError",
    "Skipped",
    "UnreadableFileError",
    "iter_documents",
    "load_beir_corpus",
    "load_document",
    "load_jsonl",
    "load_markdown",
    "load_text",
    "markdown_title",
    "path_id",
    "read_text",
]
