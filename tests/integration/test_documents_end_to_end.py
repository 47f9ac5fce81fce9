"""examples/documents (PDF, DOCX, HTML, Markdown) through the real CLI with a BM25 config: hits
and citations carry page and section, their spans index the stored text, a bad document is
listed as failed while the rest is indexed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ragloom.loaders import iter_documents
from tests.integration.conftest import ROOT, ragloom_cli

DOCUMENTS = ROOT / "examples" / "documents"
CONFIG = ROOT / "examples" / "documents.yaml"


def test_documents_index_and_cite_page_and_section(tmp_path: Path) -> None:
    docs = tmp_path / "documents"
    shutil.copytree(DOCUMENTS, docs)
    (docs / "scan.pdf").write_bytes((DOCUMENTS / "report.pdf").read_bytes()[:900])
    index_dir = tmp_path / "index"
    run = ragloom_cli("index", str(docs), "-c", str(CONFIG), "--index-dir", str(index_dir))
    assert "added 4" in run.stdout and "failed 1" in run.stdout
    assert "documents/scan.pdf: truncated PDF" in run.stdout + run.stderr

    question = "Which gearbox needs new bearings?"
    args = ["-c", str(CONFIG), "--index-dir", str(index_dir)]
    result = json.loads(ragloom_cli("query", question, *args, "--json").stdout)
    texts = {doc.id: doc.text for doc in iter_documents([docs])}
    top = result["hits"][0]
    assert top["doc_id"] == "documents/report.pdf"
    assert (top["page"], top["page_end"], top["section"]) == (3, 3, "2.1 Results")
    assert top["metadata"]["section_path"] == ["2 Methods", "2.1 Results"]
    assert top["metadata"]["title"] == "Hollow Ridge inspection report"
    for hit in result["hits"]:
        assert texts[hit["doc_id"]][hit["start"] : hit["end"]] == hit["text"]
        assert hit["section"]  # every example document has headings
    (citation,) = result["citations"]
    assert citation["doc_id"] == "documents/report.pdf"
    assert (citation["page"], citation["section"]) == (3, "2.1 Results")

    red = ["--filter", '{"team": "red"}', "--json"]
    filtered = json.loads(ragloom_cli("query", "turbine bearing", *args, *red).stdout)
    assert filtered["hits"] and {h["doc_id"] for h in filtered["hits"]} == {"documents/notes.md"}

    streamed = ragloom_cli("query", question, *args).stdout
    assert 'documents/report.pdf p. 3, "2.1 Results"' in streamed
    assert 'documents/handbook.docx "Gearbox"' in streamed
