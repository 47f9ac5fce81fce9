"""What every document parser returns: the extracted text and its pages and sections.

A parser (PDF, HTML, DOCX, Markdown) builds its text block by block with `TextBuilder`, which
records where each heading and page starts, so the structure indexes exactly the text that is
stored (`ragloom.structure` says the metadata form). A document a parser must refuse raises
`DocumentError` with a one-line reason; the loader lists it as failed and goes on. Example::

    out = TextBuilder()
    out.heading(1, "Results")
    out.paragraph("Recall rose.")
    extracted = out.build(title="Report")   # text "Results\\n\\nRecall rose.", one section
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from ragloom.structure import PAGE_OFFSETS, SECTIONS, STRUCTURE_KEYS

#: Metadata keys ragloom sets itself; a user field of the same name is kept as `record_<name>`.
RESERVED_KEYS: tuple[str, ...] = ("source", "format", "page_count", *STRUCTURE_KEYS)
RESERVED_KEYS += ("page_start", "page_end", "section", "section_path")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Between blocks (paragraphs, headings, tables) and between pages of the extracted text.
BLOCK_SEPARATOR = "\n\n"


class DocumentError(Exception):
    """A document that cannot be indexed (encrypted, no text layer, truncated, over a limit);
    the message is the one-line reason the loader reports."""


@dataclass
class Extracted:
    """A parsed document: the text to index and the metadata the parser found (title, page
    count, page offsets, sections, user fields)."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def heading_sections(headings: list[tuple[int, int, str]], length: int) -> list[list[Any]]:
    """Section spans `[start, end, path]` from headings `(start, level, title)` in text order:
    each runs to the next heading (the last to `length`); the path is the titles of the
    enclosing headings, outermost first."""
    sections: list[list[Any]] = []
    stack: list[tuple[int, str]] = []  # (level, title) of the open headings
    for n, (start, level, title) in enumerate(headings):
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        end = headings[n + 1][0] if n + 1 < len(headings) else length
        if end > start:
            sections.append([start, end, [t for _, t in stack]])
    return sections


def markdown_table(rows: list[list[str]]) -> str:
    """Rows of cell texts as a Markdown table, the first row as its header ("" for none)."""
    rows = [[" ".join(cell.split()).replace("|", "\\|") for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * width)
    return "\n".join(lines)


def plain_value(value: Any) -> Any:
    """A user metadata value as JSON can hold it: dates and times as ISO text, inside lists
    and mappings too (YAML front matter reads `2024-05-01` as a date)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    return value


def user_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """User metadata (front matter, a JSONL record's `metadata` object) as document metadata:
    each field under its own name, filterable by it (`record_<name>` for a reserved name)."""
    return {
        (f"record_{name}" if name in RESERVED_KEYS else str(name)): plain_value(value)
        for name, value in fields.items()
    }


def clean_text(text: str) -> str:
    """Extracted text that any file or database can store: a lone surrogate (a PDF font's
    broken character map) becomes U+FFFD, a NUL is dropped."""
    if text.isascii():
        return text.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", text).replace("\x00", "")


class TextBuilder:
    """Joins text blocks with `BLOCK_SEPARATOR`, noting where each heading and page starts."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._headings: list[tuple[int, int, str]] = []
        self._pages: list[int] = []

    def _append(self, text: str) -> int:
        """Add a block; its start offset in the text."""
        if self._parts:
            self._parts.append(BLOCK_SEPARATOR)
            self._length += len(BLOCK_SEPARATOR)
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        return start

    def paragraph(self, text: str) -> int | None:
        """A block of body text (ignored when blank); its start offset."""
        text = clean_text(text).strip()
        return self._append(text) if text else None

    def heading(self, level: int, title: str) -> None:
        """A heading of `level` (1 outermost): a block that opens a section."""
        title = " ".join(clean_text(title).split())
        if title:
            self._headings.append((self._append(title), level, title))

    def page(self) -> None:
        """Start a new page: the next block is its first."""
        self._pages.append(self._length + (len(BLOCK_SEPARATOR) if self._parts else 0))

    def mark_heading(self, start: int, level: int, title: str) -> None:
        """Note a heading found inside text already added (a PDF outline entry)."""
        self._headings.append((start, level, title))

    @property
    def length(self) -> int:
        return self._length

    def build(self, **metadata: Any) -> Extracted:
        """The text and its structure; `metadata` entries that are None are left out."""
        text = "".join(self._parts)
        meta = {k: v for k, v in metadata.items() if v is not None}
        if self._pages:
            meta[PAGE_OFFSETS] = [min(p, len(text)) for p in self._pages]
        headings = sorted(self._headings)
        if headings:
            meta[SECTIONS] = heading_sections(headings, len(text))
        return Extracted(text, meta)
