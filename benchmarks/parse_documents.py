"""Parsing throughput of the document loaders: pages/s for PDF, documents/s for HTML and DOCX.

Documents are generated first (fpdf2 for a multi-page PDF, python-docx, an HTML page with
navigation, scripts, headings and a table; seeded synthetic words), then each file is loaded
with `load_document` (type sniffing, parsing, the Document with its metadata), as `ragloom
index` does, `--repeat` times; the best run is reported. One process, one core.

Run:  .venv/bin/python benchmarks/parse_documents.py --pdf-pages 200 --html 200 --docx 100
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import string
import tempfile
import time
from pathlib import Path

from ragloom.loaders import load_document


def words(rng: random.Random, n: int) -> str:
    return " ".join(
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(n)
    )


def make_pdf(path: Path, pages: int, rng: random.Random) -> None:
    """A PDF of `pages` pages, each a heading (an outline entry) and ~350 words."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for n in range(pages):
        pdf.add_page()
        pdf.start_section(f"Section {n + 1}")
        pdf.multi_cell(0, 5, f"Section {n + 1}", new_x="LMARGIN", new_y="NEXT")
        for _ in range(5):
            pdf.multi_cell(0, 5, words(rng, 70) + ".", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def make_html(rng: random.Random) -> str:
    """A ~15 KB page: head with style and script, navigation, 8 sections, a table, footer."""
    sections = "".join(
        f"<h2>Part {n}</h2>" + "".join(f"<p>{words(rng, 60)}.</p>" for _ in range(3))
        for n in range(8)
    )
    rows = "".join(f"<tr><td>{words(rng, 2)}</td><td>{n}</td></tr>" for n in range(10))
    return (
        "<!DOCTYPE html><html><head><title>Bench page</title><style>p{margin:0}</style>"
        f"<script>var data = {json.dumps(words(rng, 200))};</script></head><body>"
        "<nav>" + "".join(f"<a href='/{n}'>link {n}</a>" for n in range(30)) + "</nav>"
        f"<main><h1>Bench page</h1>{sections}<table>{rows}</table></main>"
        "<footer>footer text</footer></body></html>"
    )


def make_docx(rng: random.Random) -> bytes:
    """A DOCX of 8 Heading 1/2 sections with 3 paragraphs each and a 10-row table."""
    import docx

    document = docx.Document()
    document.add_heading("Bench document", level=0)
    for n in range(8):
        document.add_heading(f"Part {n}", level=1 + n % 2)
        for _ in range(3):
            document.add_paragraph(words(rng, 60) + ".")
    table = document.add_table(rows=10, cols=2)
    for r in range(10):
        table.cell(r, 0).text, table.cell(r, 1).text = words(rng, 2), str(r)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def best_time(paths: list[Path], repeat: int) -> tuple[float, int]:
    """The fastest of `repeat` loads of every path (seconds) and the characters extracted."""
    best, chars = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        chars = sum(len(load_document(path).text) for path in paths)
        best = min(best, time.perf_counter() - start)
    return best, chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf-pages", type=int, default=200, help="pages of the PDF")
    parser.add_argument("--html", type=int, default=200, help="HTML pages")
    parser.add_argument("--docx", type=int, default=100, help="DOCX documents")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_pdf(root / "bench.pdf", args.pdf_pages, rng)
        html = []
        for n in range(args.html):
            html.append(root / f"page{n}.html")
            html[-1].write_text(make_html(rng))
        docx_files = []
        for n in range(args.docx):
            docx_files.append(root / f"doc{n}.docx")
            docx_files[-1].write_bytes(make_docx(rng))
        pdf_s, pdf_chars = best_time([root / "bench.pdf"], args.repeat)
        html_s, html_chars = best_time(html, args.repeat)
        docx_s, docx_chars = best_time(docx_files, args.repeat)
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "pdf": {
            "pages": args.pdf_pages,
            "seconds": round(pdf_s, 3),
            "pages_per_s": round(args.pdf_pages / pdf_s, 1),
            "chars_per_page": pdf_chars // args.pdf_pages,
        },
        "html": {
            "documents": args.html,
            "seconds": round(html_s, 3),
            "documents_per_s": round(args.html / html_s, 1),
            "chars_per_document": html_chars // max(args.html, 1),
        },
        "docx": {
            "documents": args.docx,
            "seconds": round(docx_s, 3),
            "documents_per_s": round(args.docx / docx_s, 1),
            "chars_per_document": docx_chars // max(args.docx, 1),
        },
    }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
