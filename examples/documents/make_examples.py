"""Write the sample PDF and DOCX of examples/documents/ (the HTML and Markdown are plain text).

The binaries are committed; run this to remake them (needs fpdf2, in the `dev` extra):

    .venv/bin/python examples/documents/make_examples.py
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (outline level, heading, paragraphs): one page each.
REPORT = [
    (
        0,
        "1 Introduction",
        [
            "This field report covers the spring inspection of the Hollow Ridge wind farm, "
            "twelve turbines on the northern ridge.",
            "The crew worked from 3 to 14 April in mostly dry weather.",
        ],
    ),
    (
        0,
        "2 Methods",
        [
            "Each turbine was stopped and locked before the climb. Blades were inspected by "
            "drone first, then by rope access where the drone images showed damage.",
            "Gearbox oil samples were sent to the laboratory for particle counts.",
        ],
    ),
    (
        1,
        "2.1 Results",
        [
            "Leading-edge erosion was found on the blades of turbines 4 and 9; both were "
            "repaired with protective tape on site.",
            "Oil from turbine 7 showed high iron particle counts, so its gearbox bearings are "
            "scheduled for replacement in June.",
        ],
    ),
]


def make_pdf(path: Path) -> None:
    """A three-page PDF with a title, an outline and known text on each page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Hollow Ridge inspection report")
    pdf.set_creation_date(datetime(2026, 4, 15, tzinfo=UTC))  # the same file each run
    for level, heading, paragraphs in REPORT:
        pdf.add_page()
        pdf.set_font("helvetica", "B", 14)
        pdf.start_section(heading, level=level)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(path))


def make_docx(path: Path) -> None:
    """A DOCX handbook with a title, Heading 1/2 sections and a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Turbine maintenance handbook"
    document.add_heading("Turbine maintenance handbook", level=0)
    document.add_heading("Safety", level=1)
    document.add_paragraph(
        "Never climb a turbine that is not stopped and locked out. Wind speed must stay below "
        "15 metres per second for rope access."
    )
    document.add_heading("Service intervals", level=1)
    document.add_paragraph("Each part has its own interval, counted in operating months.")
    table = document.add_table(rows=4, cols=2)
    rows = [
        ["Part", "Interval"],
        ["Gearbox oil", "12 months"],
        ["Blade inspection", "6 months"],
        ["Yaw brake pads", "24 months"],
    ]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Gearbox", level=2)
    document.add_paragraph(
        "Change the gearbox oil when particle counts rise, even before the interval ends."
    )
    document.core_properties.created = document.core_properties.modified = datetime(
        2026, 4, 15, tzinfo=UTC
    )
    document.save(str(path))


if __name__ == "__main__":
    make_pdf(HERE / "report.pdf")
    make_docx(HERE / "handbook.docx")
    print(f"wrote {HERE / 'report.pdf'} and {HERE / 'handbook.docx'}")
