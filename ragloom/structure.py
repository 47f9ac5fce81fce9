"""Pages and sections of a document, and where a chunk's span falls in them.

A loader that knows a document's structure (a PDF's pages, a heading tree) records it in the
document's metadata over its extracted text, in a compact JSON-able form:

- `page_offsets`: `[0, 812, 1650]`, the offset where each page starts (page n, 1-based, is
  `text[offsets[n-1]:offsets[n]]`, the last one runs to the end);
- `sections`: `[[start, end, ["2 Methods", "2.1 Results"]], ...]`, spans in order, each with
  its heading path (outermost first).

Every chunker makes its chunks with `Chunk.from_span`, which calls `span_metadata`: the chunk
gets `page_start`, `page_end`, `section` (the innermost heading) and `section_path` instead of
the document-wide lists. Example::

    meta = {"page_offsets": [0, 10], "sections": [[0, 20, ["Intro"]]]}
    span_metadata(meta, "first page\\nsecond one", 2, 15)
    # {"page_start": 1, "page_end": 2, "section": "Intro", "section_path": ["Intro"]}
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

PAGE_OFFSETS = "page_offsets"
SECTIONS = "sections"
#: Document-wide structure keys: a chunk gets its own page and section instead of these.
STRUCTURE_KEYS = (PAGE_OFFSETS, SECTIONS)


def span_metadata(metadata: Mapping[str, Any], text: str, start: int, end: int) -> dict[str, Any]:
    """A chunk's metadata: its document's, less the structure lists, plus the pages (first and
    last non-blank character) and the section (most characters; ties to the earlier) that
    `text[start:end]` falls in, where the document has them."""
    if PAGE_OFFSETS not in metadata and SECTIONS not in metadata:
        return dict(metadata)
    meta = {k: v for k, v in metadata.items() if k not in STRUCTURE_KEYS}
    piece = text[start:end]
    first = start + (len(piece) - len(piece.lstrip()))
    last = max(first, start + len(piece.rstrip()) - 1)
    offsets = metadata.get(PAGE_OFFSETS)
    if offsets:
        meta["page_start"] = max(1, bisect.bisect_right(offsets, first))
        meta["page_end"] = max(1, bisect.bisect_right(offsets, last))
    path = section_at(metadata.get(SECTIONS) or [], start, end)
    if path:
        meta["section"] = path[-1]
        meta["section_path"] = list(path)
    return meta


def section_at(sections: list[Any], start: int, end: int) -> list[str] | None:
    """The heading path of the section holding most of `[start, end)`, or None."""
    n = max(0, bisect.bisect_right(sections, start, key=lambda s: s[0]) - 1)
    best, best_overlap = None, 0
    for s_start, s_end, path in sections[n:]:
        if s_start >= end:
            break
        overlap = min(end, s_end) - max(start, s_start)
        if overlap > best_overlap:
            best, best_overlap = path, overlap
    return best


def union_metadata(
    first: Mapping[str, Any], second: Mapping[str, Any], best: Mapping[str, Any]
) -> dict[str, Any]:
    """The metadata of two overlapping chunks merged into one passage: the better one's, with
    pages from the first page of either to the last page of either."""
    meta = dict(best)
    starts = [m["page_start"] for m in (first, second) if m.get("page_start") is not None]
    ends = [m["page_end"] for m in (first, second) if m.get("page_end") is not None]
    if starts:
        meta["page_start"] = min(starts)
    if ends:
        meta["page_end"] = max(ends)
    return meta


def location_label(metadata: Mapping[str, Any]) -> str:
    """Where a chunk sits, for a citation line: `p. 3, "2.1 Results"`, `pp. 3-4`, or ""."""
    parts = []
    first, last = metadata.get("page_start"), metadata.get("page_end")
    if first is not None:
        parts.append(f"p. {first}" if last in (None, first) else f"pp. {first}-{last}")
    if metadata.get("section"):
        parts.append(f'"{metadata["section"]}"')
    return ", ".join(parts)


def citation_location(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A citation's `page`, `page_end` and `section`, those the chunk's metadata knows."""
    where: dict[str, Any] = {}
    if metadata.get("page_start") is not None:
        where["page"] = metadata["page_start"]
        where["page_end"] = metadata.get("page_end", metadata["page_start"])
    if metadata.get("section"):
        where["section"] = metadata["section"]
    return where
