"""examples/hashing-dense.yaml end to end: index the example corpus and query it, no model."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import CORPUS, ROOT, ragloom_cli

CONFIG = str(ROOT / "examples" / "hashing-dense.yaml")


def test_hashing_dense_index_answers_from_the_right_document(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    ragloom_cli("index", str(CORPUS), "-c", CONFIG, "--index-dir", str(index_dir))
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["encoder"] == {"model": "hashing", "dimension": 384, "ngram": 1}
    proc = ragloom_cli(
        "query",
        "What do k1 and b control in BM25?",
        "-c",
        CONFIG,
        "--index-dir",
        str(index_dir),
        "--json",
    )
    hits = json.loads(proc.stdout)["hits"]
    assert hits and hits[0]["doc_id"].endswith("bm25.md")
    assert "k1" in hits[0]["text"]
