"""PDF, HTML, DOCX and Markdown parsing on documents the tests make: the right text per page
and section, exact spans, metadata, and each bad document refused with its reason."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC
from pathlib import Path

from ragloom.chunking import RecursiveChunker, SentenceChunker
from ragloom.chunking.sections import SectionChunker
from ragloom.generation.context import merge_overlapping
from ragloom.loaders import iter_documents, load_document
from ragloom.loaders.detect import sniff
from ragloom.loaders.html import parse_html
from ragloom.structure import citation_location, location_label, span_metadata
from ragloom.types import Chunk, Document, Hit

PAGES = [
    ("1 Introduction", "Apples grow on trees in the orchard."),
    ("2 Methods", "We counted bananas in the warehouse."),
    ("2.1 Results", "Cherries ripened early this summer."),
]


def make_pdf(pages: list[tuple[str, str]] = PAGES, *, text: bool = True) -> bytes:
    """A PDF with one page per (heading, body), each heading also an outline entry (a "2.1"
    heading one level down); `text=False`: pages holding only a drawn rectangle (a scan)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Fruit report")
    pdf.set_font("helvetica", size=12)
    for heading, body in pages:
        pdf.add_page()
        if not text:
            pdf.rect(20, 20, 100, 60, style="F")
            continue
        pdf.start_section(heading, level=heading.split()[0].count("."))
        pdf.multi_cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 10, body, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def make_docx() -> bytes:
    """A DOCX with a title, Heading 1/2 paragraphs, body text and a 2x2 table."""
    import docx

    document = docx.Document()
    document.add_heading("Quarterly review", level=0)
    document.add_heading("Sales", level=1)
    document.add_paragraph("Sales grew in every region.")
    document.add_heading("North", level=2)
    document.add_paragraph("The north sold the most kites.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["Region", "Kites"], ["North", "120"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Outlook", level=1)
    document.add_paragraph("Next year looks windy.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


HTML = """<!DOCTYPE html>
<html><head><title>Kite guide</title><style>body { color: red }</style>
<script>var tracking = "do not index me";</script></head>
<body>
<header><a href="/">Home</a> <a href="/shop">Shop</a></header>
<nav><ul><li><a href="/a">Menu entry</a></li></ul></nav>
<main>
  <h1>Flying kites</h1>
  <p>Kites need <b>steady</b> wind.</p>
  <h2>Safety</h2>
  <p>Stay away from power lines.</p>
  <table><tr><th>Wind</th><th>Kite</th></tr><tr><td>Light</td><td>Delta</td></tr></table>
  <script>console.log("inline in main");</script>
</main>
<aside>Related: boats</aside>
<footer>Copyright 2026</footer>
</body></html>
"""

MARKDOWN = """---
title: Garden notes
team: red
tags: [soil, water]
date: 2024-05-01
---
# Planting

Dig a hole.

## Watering

Water daily in summer.
"""


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def load_folder(folder: Path, files: dict[str, bytes | str]) -> tuple[list[str], dict[str, str]]:
    """Write `files` into `folder`, load it: the ids loaded and each skipped file's reason."""
    for name, data in files.items():
        write(folder / name, data)
    stream = iter_documents([folder])
    return [d.id for d in stream], dict(stream.skipped)


def check_refused(
    folder: Path, good: dict[str, bytes | str], bad: dict[str, tuple[bytes | str, str]]
) -> None:
    """Loading `good` and `bad` files together yields the good ones; each bad (data, reason)
    is listed as skipped with a reason holding that text."""
    files = {**good, **{name: data for name, (data, _) in bad.items()}}
    ids, reasons = load_folder(folder, files)
    assert ids == [f"{folder.name}/{name}" for name in sorted(good)]
    for name, (_, why) in bad.items():
        assert why in reasons[f"{folder.name}/{name}"]


def check_spans(doc: Document, chunks: list[Chunk]) -> None:
    assert chunks
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text


# --- PDF -----------------------------------------------------------------------------------


def test_pdf_text_per_page_with_offsets_sections_and_title(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "report.pdf", make_pdf()))
    meta = doc.metadata
    assert meta["format"] == "pdf" and meta["title"] == "Fruit report"
    assert meta["page_count"] == 3
    offsets = meta["page_offsets"]
    ends = [*offsets[1:], len(doc.text)]
    for (heading, body), start, end in zip(PAGES, offsets, ends, strict=True):
        page = doc.text[start:end]
        assert heading in page and body in page
    paths = [(doc.text[s:e].split("\n")[0], path) for s, e, path in meta["sections"]]
    assert paths == [
        ("1 Introduction", ["1 Introduction"]),
        ("2 Methods", ["2 Methods"]),
        ("2.1 Results", ["2 Methods", "2.1 Results"]),
    ]


def test_pdf_chunks_know_their_pages_and_section(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "report.pdf", make_pdf()))
    chunks = SentenceChunker(sentences_per_chunk=1).chunk(doc)
    check_spans(doc, chunks)
    cherries = next(c for c in chunks if "Cherries" in c.text)
    assert cherries.metadata["page_start"] == cherries.metadata["page_end"] == 3
    assert cherries.metadata["section"] == "2.1 Results"
    assert cherries.metadata["section_path"] == ["2 Methods", "2.1 Results"]
    assert "page_offsets" not in cherries.metadata and "sections" not in cherries.metadata
    whole = Chunk.from_span(doc, 0, len(doc.text), 0)
    assert (whole.metadata["page_start"], whole.metadata["page_end"]) == (1, 3)


def test_hits_carry_page_and_section_to_json_and_langchain(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "report.pdf", make_pdf()))
    chunk = next(c for c in SentenceChunker(sentences_per_chunk=1).chunk(doc) if "Cherr" in c.text)
    hit = Hit(chunk, 1.0)
    assert {k: hit.to_dict()[k] for k in ("page", "page_end", "section")} == {
        "page": 3,
        "page_end": 3,
        "section": "2.1 Results",
    }
    meta = hit.to_langchain().metadata
    assert (meta["page_start"], meta["page_end"], meta["section"]) == (3, 3, "2.1 Results")
    assert Chunk.from_langchain(hit.to_langchain()).metadata == chunk.metadata


def test_pdf_hash_ignores_its_timestamps(tmp_path: Path) -> None:
    from datetime import datetime

    from fpdf import FPDF

    def dated(year: int) -> bytes:
        pdf = FPDF()
        pdf.set_creation_date(datetime(year, 1, 1, tzinfo=UTC))
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 10, "Same words.")
        return bytes(pdf.output())

    first, second = dated(2020), dated(2026)
    assert first != second
    one = load_document(write(tmp_path / "a" / "x.pdf", first))
    two = load_document(write(tmp_path / "b" / "x.pdf", second))
    assert one.hash == two.hash


def test_merged_passages_span_the_pages_of_both_chunks(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "report.pdf", make_pdf()))
    chunks = RecursiveChunker(chunk_size=8).chunk(doc)  # "Apples" on p. 1, "We counted" p. 2
    first, second = (next(c for c in chunks if word in c.text) for word in ("Apples", "Methods"))
    third = next(c for c in chunks if "We counted" in c.text)
    (passage,) = merge_overlapping([Hit(first, 0.5), Hit(second, 0.9), Hit(third, 0.1)])
    assert passage.chunk.text == doc.text[first.start : third.end]
    assert (passage.chunk.metadata["page_start"], passage.chunk.metadata["page_end"]) == (1, 2)
    assert passage.chunk.metadata["section"] == "2 Methods"  # the best-scored chunk's


def test_location_label_and_citation_fields() -> None:
    meta = {"page_offsets": [0, 10, 20], "sections": [[0, 30, ["2 Methods", "2.1 Results"]]]}
    text = "first page" + "second pag" + "third page"
    chunk_meta = span_metadata(meta, text, 12, 25)
    assert location_label(chunk_meta) == 'pp. 2-3, "2.1 Results"'
    assert citation_location(chunk_meta) == {"page": 2, "page_end": 3, "section": "2.1 Results"}
    assert location_label({"page_start": 3, "page_end": 3}) == "p. 3"
    assert location_label({"source": "a.txt"}) == "" and citation_location({}) == {}


def test_encrypted_scanned_and_truncated_pdfs_are_refused_with_reasons(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf())).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    encrypted = io.BytesIO()
    writer.write(encrypted)
    good = make_pdf()
    bad = {
        "locked.pdf": (encrypted.getvalue(), "encrypted PDF: a password is needed"),
        "scan.pdf": (make_pdf(text=False), "no text layer (3 page(s)), OCR is not supported"),
        "cut.pdf": (good[: len(good) // 2], "truncated PDF"),
    }
    check_refused(tmp_path / "docs", {"good.pdf": good}, bad)


# --- DOCX ----------------------------------------------------------------------------------


def test_docx_paragraphs_headings_as_sections_and_tables_as_markdown(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "review.docx", make_docx()))
    assert doc.metadata["format"] == "docx" and doc.metadata["title"] == "Quarterly review"
    assert "| Region | Kites |\n|---|---|\n| North | 120 |" in doc.text
    order = ["Quarterly review", "Sales grew", "The north sold", "| Region", "Next year"]
    assert sorted(order, key=doc.text.index) == order
    sections = {tuple(path): doc.text[s:e] for s, e, path in doc.metadata["sections"]}
    north = sections[("Quarterly review", "Sales", "North")]
    assert "The north sold the most kites." in north and "| North | 120 |" in north
    assert "Next year looks windy." in sections[("Quarterly review", "Outlook")]


def test_truncated_docx_zip_bomb_and_plain_zip_are_refused(tmp_path: Path) -> None:
    good = make_docx()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(io.BytesIO(good)) as source:
            for info in source.infolist():
                archive.writestr(info, source.read(info))
        archive.writestr("word/media/zeros.bin", bytes(1 << 20))
        # The central directory says 300 MB: what a bomb says of itself (the check reads no
        # more than that; zipfile never inflates an entry past its stated size).
        archive.filelist[-1].file_size = 300_000_000
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("notes.txt", "not a word document")
    bad = {
        "cut.docx": (good[: len(good) // 2], "truncated or corrupt DOCX"),
        "bomb.docx": (bomb.getvalue(), "a zip bomb?"),
        "plain.docx": (plain.getvalue(), "without word/document.xml: not a DOCX"),
    }
    check_refused(tmp_path / "docs", {"good.docx": good}, bad)


# --- HTML ----------------------------------------------------------------------------------


def test_html_main_content_and_title_without_navigation_scripts_styles(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "kites.html", HTML))
    assert doc.metadata["title"] == "Kite guide"
    assert doc.text.startswith("Flying kites\n\nKites need steady wind.")
    assert "| Wind | Kite |\n|---|---|\n| Light | Delta |" in doc.text
    for junk in ("tracking", "color", "Home", "Menu entry", "boats", "Copyright", "console"):
        assert junk not in doc.text
    assert [path for _, _, path in doc.metadata["sections"]] == [
        ["Flying kites"],
        ["Flying kites", "Safety"],
    ]
    chunks = SectionChunker(chunk_size=64).chunk(doc)
    check_spans(doc, chunks)
    assert [c.metadata["section"] for c in chunks] == ["Flying kites", "Safety"]


def test_html_encoding_from_bom_meta_or_utf8() -> None:
    utf8 = "<html><body><p>Ünïcödé 東京</p></body></html>".encode()
    latin = '<meta charset="iso-8859-1"><p>Ünïcödé</p>'.encode("latin-1")
    assert parse_html(utf8).text == "Ünïcödé 東京"  # no charset declared: UTF-8, not Latin-1
    assert parse_html(latin).text == "Ünïcödé"
    assert parse_html("<p>é</p>".encode("utf-16")).text == "é"


def test_html_with_megabytes_of_inline_script_is_refused(tmp_path: Path) -> None:
    script = "var x = 1;\n" * 300_000
    page = f"<html><body><p>Real text.</p><script>{script}</script></body></html>"
    bad = {"app.html": (page, "characters of inline script and style")}
    check_refused(tmp_path / "docs", {"kites.html": HTML}, bad)


# --- Markdown, JSONL metadata, type by content ---------------------------------------------


def test_markdown_front_matter_is_metadata_and_headings_are_sections(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "garden.md", MARKDOWN))
    assert doc.text.startswith("# Planting\n\nDig a hole.")
    meta = doc.metadata
    assert meta["title"] == "Garden notes" and meta["team"] == "red"
    assert meta["tags"] == ["soil", "water"] and meta["date"] == "2024-05-01"
    chunks = SectionChunker(chunk_size=64).chunk(doc)
    check_spans(doc, chunks)
    assert [(c.text.split("\n")[0], c.metadata["section_path"]) for c in chunks] == [
        ("# Planting", ["Planting"]),
        ("## Watering", ["Planting", "Watering"]),
    ]
    assert all(c.metadata["team"] == "red" for c in chunks)


def test_bad_front_matter_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = ("---\ntitle: [unclosed\n---\n# Body\n", "front matter is not valid YAML at line")
    check_refused(tmp_path / "docs", {}, {"bad.md": bad})


def test_jsonl_metadata_object_becomes_fields(tmp_path: Path) -> None:
    record = {"id": "a", "text": "hello", "metadata": {"team": "red", "source": "x"}}
    write(tmp_path / "r.jsonl", json.dumps(record) + "\n")
    (doc,) = iter_documents([tmp_path / "r.jsonl"])
    assert doc.metadata["team"] == "red"
    assert doc.metadata["source"] == "r.jsonl" and doc.metadata["record_source"] == "x"


def test_type_is_decided_by_content_not_only_the_extension(tmp_path: Path) -> None:
    assert sniff(make_pdf()[:2048]) == "pdf" and sniff(make_docx()[:2048]) == "zip"
    assert sniff(HTML.encode()) == "html" and sniff(b"# Title\n") is None
    pdf_as_txt = load_document(write(tmp_path / "report.txt", make_pdf()))
    assert pdf_as_txt.metadata["format"] == "pdf" and pdf_as_txt.metadata["page_count"] == 3
    assert load_document(write(tmp_path / "page.md", HTML)).metadata["format"] == "html"
    check_refused(tmp_path / "docs", {}, {"fake.pdf": ("just some text", "not a PDF file")})


def test_every_chunker_carries_page_and_section(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "report.pdf", make_pdf()))
    for chunker in (RecursiveChunker(chunk_size=8), SectionChunker(chunk_size=8)):
        chunks = chunker.chunk(doc)
        check_spans(doc, chunks)
        assert all("page_start" in c.metadata and "section" in c.metadata for c in chunks)
        assert {c.metadata["page_start"] for c in chunks} == {1, 2, 3}
