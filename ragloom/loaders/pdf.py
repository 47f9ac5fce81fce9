"""PDF files: the text layer page by page (pypdf), pages and outline sections kept.

Lines the page layout wrapped are joined again (`unwrap_lines`); pages are joined by a blank
line; `page_offsets` says where each starts, so every chunk knows
its first and last page. The outline (bookmarks) gives the sections: each entry starts where
its title appears on its page (else at the page's start). Refused with a reason: an encrypted
file that needs a password, a truncated or corrupt one, more than `MAX_PDF_PAGES` pages, and
a PDF without a text layer (a scan: OCR is not supported). Example::

    extracted = parse_pdf(Path("report.pdf").read_bytes())
    extracted.metadata["page_count"], extracted.metadata["page_offsets"]
"""

from __future__ import annotations

import io
import logging
from typing import Any

from ragloom.loaders.extracted import DocumentError, Extracted, TextBuilder, clean_text

#: PDFs with more pages are refused (about 2M characters, max_document_chars' default).
MAX_PDF_PAGES = 2_000
#: A line at least this share of its page's longest line, not ending a sentence, was wrapped.
WRAP_SHARE = 0.8


def parse_pdf(data: bytes, max_pages: int = MAX_PDF_PAGES) -> Extracted:
    """The text of every page of a PDF, with page offsets, outline sections, title and page
    count; DocumentError naming the reason for a PDF that cannot be indexed."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    if b"%%EOF" not in data[-2048:]:
        raise DocumentError("truncated PDF (no %%EOF marker at the end)")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are about repairs it made
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("encrypted PDF: a password is needed to read it")
        count = len(reader.pages)
        if count > max_pages:
            raise DocumentError(f"too many pages: {count:,} (the limit is {max_pages:,})")
        out = TextBuilder()
        starts: list[int] = []
        texts: list[str] = []
        for page in reader.pages:
            out.page()
            text = clean_text(unwrap_lines(page.extract_text() or ""))
            start = out.paragraph(text)
            starts.append(out.length if start is None else start)
            texts.append(text.strip())
        if not any(texts):
            raise DocumentError(f"no text layer ({count} page(s)), OCR is not supported")
        for level, title, page_no in _outline(reader, reader.outline, 1):
            if 0 <= page_no < count:
                found = texts[page_no].find(title)
                out.mark_heading(starts[page_no] + max(found, 0), level, title)
        info = reader.metadata
        title = (info.title or "").strip() if info is not None else ""
        return out.build(title=title or None, page_count=count)
    except FileNotDecryptedError:
        raise DocumentError("encrypted PDF: a password is needed to read it") from None
    except DocumentError:
        raise
    except PdfReadError as exc:
        raise DocumentError(f"corrupt or truncated PDF: {_first_line(exc)}") from None
    except Exception as exc:  # a malformed object or content stream, wherever pypdf meets it
        raise DocumentError(f"corrupt PDF: {type(exc).__name__}: {_first_line(exc)}") from None


def unwrap_lines(text: str) -> str:
    """A page's text with soft line wraps joined: a line nearly as long as the page's longest
    (at least `WRAP_SHARE` of it) that does not end a sentence runs on into the next line."""
    lines = text.split("\n")
    width = max((len(line.rstrip()) for line in lines), default=0)
    out = []
    for n, line in enumerate(lines):
        bare = line.rstrip()
        wraps = (
            n + 1 < len(lines)
            and bare
            and lines[n + 1].strip()
            and len(bare) >= WRAP_SHARE * width
            and not bare.endswith((".", "!", "?", ":", ";"))
        )
        out.append(bare + (" " if wraps else "\n"))
    return "".join(out)[:-1] if out else ""


def _outline(reader: Any, items: list[Any], level: int) -> list[tuple[int, str, int]]:
    """(level, title, 0-based page) of each outline entry, depth first; nested lists are the
    children of the entry before them."""
    entries: list[tuple[int, str, int]] = []
    for item in items:
        if isinstance(item, list):
            entries.extend(_outline(reader, item, level + 1))
            continue
        title = " ".join(str(getattr(item, "title", "") or "").split())
        page = reader.get_destination_page_number(item)
        if title and page is not None:
            entries.append((level, title, page))
    return entries


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
