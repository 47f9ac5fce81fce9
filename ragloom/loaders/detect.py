"""The type of a file from its first bytes (magic numbers), whatever its extension says.

A `.txt` that holds a PDF is read as a PDF, a `.pdf` that holds HTML as HTML; a file whose
bytes name no type we parse is read as its extension says. Example::

    sniff(b"%PDF-1.7\\n...")          # "pdf"
    sniff(b"PK\\x03\\x04...")         # "zip" (a DOCX is a zip archive holding word/document.xml)
    sniff(b"<!DOCTYPE html><html>")  # "html"
"""

from __future__ import annotations

import codecs
import os
import re
from typing import Literal

Kind = Literal["pdf", "zip", "html"]
#: Bytes read from the start of a file to decide its type.
HEAD_BYTES = 2048
_HTML = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S
)


def sniff(head: bytes) -> Kind | None:
    """The type the first bytes of a file show: "pdf", "zip", "html", or None (text or
    something else: the extension decides)."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if b"%PDF-" in head[:1024]:  # the PDF spec lets the header sit after some junk
        return "pdf"
    if _HTML.match(head.removeprefix(codecs.BOM_UTF8)):
        return "html"
    return None


def sniff_file(path: str | os.PathLike[str]) -> Kind | None:
    """`sniff` of a file's first `HEAD_BYTES` (None when it cannot be read: the reader that
    follows reports why)."""
    try:
        with open(path, "rb") as file:
            return sniff(file.read(HEAD_BYTES))
    except OSError:
        return None
