"""Markdown: YAML front matter as metadata, ATX headings as the section path.

The front matter (a `---` line, YAML, a `---` or `...` line, at the very start) is read with
the safe loader; its fields become document metadata, and the text indexed is what follows it,
verbatim, so chunk spans index the body. `# ... ######` headings outside code fences open
sections. Front matter that is not a YAML mapping is refused with the reason. Example::

    extracted = parse_markdown("---\\nteam: red\\n---\\n# Guide\\n\\nHello.\\n")
    extracted.text                       # "# Guide\\n\\nHello.\\n"
    extracted.metadata                   # {"team": "red", "title": "Guide", "sections": ...}
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ragloom.loaders.extracted import DocumentError, Extracted, heading_sections, user_fields
from ragloom.structure import SECTIONS

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)


def markdown_headings(text: str) -> list[tuple[int, int, str]]:
    """(start offset, level, title) of each ATX heading outside code fences."""
    headings = []
    fence = ""
    offset = 0
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        match = _FENCE.match(bare)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = ""
        elif match:
            fence = match.group(1)
        elif (heading := _HEADING.match(bare)) and heading.group(2).strip():
            headings.append((offset, len(heading.group(1)), heading.group(2).strip()))
        offset += len(line)
    return headings


def markdown_title(text: str) -> str | None:
    """The first level-1 ATX heading (`# Title`) outside code fences, or None."""
    return next((title for _, level, title in markdown_headings(text) if level == 1), None)


def front_matter(text: str) -> tuple[dict[str, Any], int]:
    """The YAML front matter's fields and the offset where the body starts ({} and 0 when
    there is none); DocumentError when it is not a YAML mapping."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, 0
    try:
        fields = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise DocumentError(f"front matter is not valid YAML{where}: {problem}") from None
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise DocumentError(f"front matter is a {type(fields).__name__}, not a mapping of fields")
    return user_fields(fields), match.end()


def parse_markdown(text: str) -> Extracted:
    """A Markdown text's body (after any front matter) with the front matter's fields, the
    title (front matter `title`, else the first `# heading`) and heading sections."""
    fields, body_start = front_matter(text)
    body = text[body_start:]
    headings = markdown_headings(body)
    metadata = dict(fields)
    title = fields.get("title") or markdown_title(body)
    if title:
        metadata["title"] = str(title)
    if headings:
        metadata[SECTIONS] = heading_sections(headings, len(body))
    return Extracted(body, metadata)
