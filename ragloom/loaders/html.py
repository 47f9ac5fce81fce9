"""HTML pages: the main content and the title, without navigation, scripts and styles (lxml).

lxml (libxml2's forgiving HTML parser) is what python-docx already depends on, so HTML costs
no extra package; trafilatura would add a dozen (date and language guessers ragloom does not
use). The main content is `<main>` (or `role="main"`, else the longest `<article>`, else
`<body>`), less scripts, styles, navigation, headers outside the content, footers, asides,
forms and hidden elements. Headings open sections, tables become Markdown tables, every other
block a paragraph. Refused with a reason: a page over `MAX_HTML_BYTES`, or one with more than
`MAX_INLINE_SCRIPT_BYTES` of inline script and style (a web app, not a document). Example::

    extracted = parse_html(Path("page.html").read_bytes())
    extracted.metadata["title"], extracted.metadata["sections"]
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from ragloom.loaders.extracted import DocumentError, Extracted, TextBuilder, markdown_table

#: Pages larger than this are refused before parsing.
MAX_HTML_BYTES = 20_000_000
#: Pages with more inline script and style than this are refused (not parsed for text).
MAX_INLINE_SCRIPT_BYTES = 1_000_000

_DROP = {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object"}
_DROP |= {"nav", "footer", "aside", "form", "button", "select", "dialog", "menu"}
_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "dialog"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {"p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd"}
_BLOCKS |= {"blockquote", "pre", "figure", "figcaption", "address", "hr", "br", "header"}
_BLOCKS |= {"details", "summary", "caption"}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def parse_html(data: bytes, max_script: int = MAX_INLINE_SCRIPT_BYTES) -> Extracted:
    """The main content of an HTML page as text (headings as sections, tables as Markdown),
    with its title; DocumentError naming the reason for a page that cannot be indexed."""
    import lxml.html
    from lxml import etree

    if len(data) > MAX_HTML_BYTES:
        raise DocumentError(f"HTML page too large: {len(data):,} bytes (max {MAX_HTML_BYTES:,})")
    if b"\x00" in data and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DocumentError("binary file (contains NUL bytes), not an HTML page")
    try:
        page = _XML_DECLARATION.sub("", decode_html(data), count=1)
        root = lxml.html.document_fromstring(page, parser=lxml.html.HTMLParser(huge_tree=True))
    except (etree.ParserError, ValueError) as exc:
        raise DocumentError(f"cannot parse HTML: {exc}") from None
    inline = sum(len(el.text or "") for el in root.iter("script", "style"))
    if inline > max_script:
        raise DocumentError(
            f"{inline:,} characters of inline script and style "
            f"(more than {max_script:,}): a web application, not a document"
        )
    title_el = root.find(".//title")
    title = " ".join((title_el.text_content() if title_el is not None else "").split())
    for el in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        _remove(el)
    for el in list(root.iter()):
        if el.getparent() is not None and _boilerplate(el):
            _remove(el)
    main = _main(root)
    main.tail = None  # text after the main element is not part of it
    out = TextBuilder()
    line: list[str] = []
    _walk(main, out, line)
    _flush(out, line)
    extracted = out.build()
    if not title:
        first = next((s[2][0] for s in extracted.metadata.get("sections", [])), None)
        title = first or ""
    if title:
        extracted.metadata["title"] = title
    return extracted


def decode_html(data: bytes) -> str:
    """A page's text: by its byte order mark, else the charset a `<meta>` declares, else UTF-8,
    else Windows-1252 (libxml2 alone would read undeclared UTF-8 as Latin-1)."""
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    declared = _CHARSET.search(data[:4096])
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _boilerplate(el: Any) -> bool:
    """True for an element that is never main content (see the module doc)."""
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _DROP or el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    if (el.get("role") or "").lower() in _ROLES:
        return True
    if tag == "header":  # a page banner, unless it heads the article itself
        return not any(a.tag in ("main", "article") for a in el.iterancestors())
    return "display:none" in (el.get("style") or "").replace(" ", "")


def _remove(el: Any) -> None:
    """Drop an element but keep its tail text."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    previous = el.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _main(root: Any) -> Any:
    """The element holding the page's main content."""
    for path in (".//main", ".//*[@role='main']"):
        found = root.find(path)
        if found is not None:
            return found
    articles = root.findall(".//article")
    if articles:
        return max(articles, key=lambda a: len(a.text_content()))
    body = root.find(".//body")
    return body if body is not None else root


def _walk(el: Any, out: TextBuilder, line: list[str]) -> None:
    """Add the text under `el` to `out`: headings, Markdown tables and blocks."""
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _HEADINGS:
        _flush(out, line)
        out.heading(_HEADINGS[tag], el.text_content())
    elif tag == "table":
        _flush(out, line)
        rows = [
            [cell.text_content() for cell in row.iterchildren("td", "th")] for row in el.iter("tr")
        ]
        table = markdown_table(rows)
        if table:
            out.paragraph(table)
    elif tag == "pre":
        _flush(out, line)
        out.paragraph(el.text_content())
    else:
        block = tag in _BLOCKS
        if block:
            _flush(out, line)
        line.append(el.text or "")
        for child in el:
            _walk(child, out, line)
        if block:
            _flush(out, line)
    line.append(el.tail or "")


def _flush(out: TextBuilder, line: list[str]) -> None:
    """The inline text gathered so far as one paragraph, spaces collapsed."""
    out.paragraph(" ".join("".join(line).split()))
    line.clear()
