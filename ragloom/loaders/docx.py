"""Word documents (.docx): paragraphs in order, heading styles as sections, tables as Markdown.

python-docx reads the body; "Heading N" paragraph styles open sections of level N ("Title" is
level 0, above them all, and the title when the core properties have none). Before anything is
unpacked the zip's central directory is read: an archive whose entries would unpack to more than
`MAX_DOCX_UNPACKED_BYTES` (a zip bomb), a truncated or corrupt archive, and a zip that is not
a Word document are refused with the reason. Example::

    extracted = parse_docx(Path("report.docx").read_bytes())
    extracted.metadata["sections"]      # [[0, 120, ["Introduction"]], ...]
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from ragloom.loaders.extracted import DocumentError, Extracted, TextBuilder, markdown_table

#: A DOCX whose entries unpack to more than this is refused unread (a zip bomb).
MAX_DOCX_UNPACKED_BYTES = 200_000_000
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def check_docx_archive(data: bytes, max_unpacked: int = MAX_DOCX_UNPACKED_BYTES) -> None:
    """DocumentError unless `data` is a readable zip holding word/document.xml whose entries
    unpack to at most `max_unpacked` bytes (sizes from the central directory; zipfile never
    inflates an entry past its stated size)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise DocumentError(
            f"truncated or corrupt DOCX (not a readable zip archive: {exc})"
        ) from None
    if not any(info.filename == "word/document.xml" for info in entries):
        raise DocumentError("zip archive without word/document.xml: not a DOCX document")
    unpacked = sum(info.file_size for info in entries)
    if unpacked > max_unpacked:
        raise DocumentError(
            f"DOCX unpacks to {unpacked:,} bytes (more than {max_unpacked:,}): a zip bomb?"
        )


def parse_docx(data: bytes, max_unpacked: int = MAX_DOCX_UNPACKED_BYTES) -> Extracted:
    """The paragraphs and tables of a DOCX in order, headings as sections, with its title;
    DocumentError naming the reason for a file that cannot be indexed."""
    import docx
    from docx.table import Table

    check_docx_archive(data, max_unpacked)
    try:
        document = docx.Document(io.BytesIO(data))
        # Style names by id, read once: `Paragraph.style` looks each one up among all styles
        # (four fifths of the parse time). A paragraph without a style id is body text.
        names = {style.style_id: style.name or "" for style in document.styles}
        out = TextBuilder()
        first_title = None
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                out.paragraph(markdown_table(_rows(block)))
                continue
            level = _heading_level(names.get(block._p.style or "", ""))
            if level is None:
                out.paragraph(block.text)
            else:
                out.heading(level, block.text)
                first_title = first_title or block.text.strip() or None
        title = (document.core_properties.title or "").strip() or first_title
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as exc:
        raise DocumentError(f"corrupt DOCX: {exc}") from None
    except Exception as exc:  # lxml's XMLSyntaxError and python-docx's own errors
        raise DocumentError(f"corrupt DOCX: {type(exc).__name__}: {exc}") from None
    return out.build(title=title)


def _heading_level(style: str) -> int | None:
    """The section level a paragraph style opens ("Heading 2": 2, "Title": 0), or None."""
    if style.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(style.strip())
    return int(match.group(1)) if match else None


def _rows(table: Any) -> list[list[str]]:
    """A table's cell texts row by row (a merged cell is repeated, as python-docx gives it)."""
    return [[cell.text for cell in row.cells] for row in table.rows]
