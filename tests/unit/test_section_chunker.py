"""section_chunker on random Markdown: exact spans that tile the text, never across a section
boundary, each within the token budget, each naming the section it holds."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragloom.chunking.sections import SectionChunker
from ragloom.chunking.spans import grapheme_starts
from ragloom.loaders.markdown import parse_markdown
from ragloom.models import load_tokenizer
from ragloom.types import Document

PIECES = st.sampled_from(
    ["\n# Title\n", "\n## Part\n", "\n### Deep\n", "word ", "Dr. Who. ", "\n\n", "e\u0301 ",
     "東京。", "\U0001f1eb\U0001f1f7 ", "```\n# not a heading\n```\n", "long " * 12]
)  # fmt: skip
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=30).map("".join)
BUDGET = 12


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_section_chunks_tile_within_sections_and_budget(text: str) -> None:
    extracted = parse_markdown(text)
    doc = Document(text=extracted.text, id="d", metadata=extracted.metadata)
    chunks = SectionChunker(chunk_size=BUDGET, tokenizer="minilm").chunk(doc)
    if not doc.text.strip():
        assert chunks == []
        return
    assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)
    for a, b in pairwise(chunks):
        assert a.end == b.start
    graphemes = set(grapheme_starts(doc.text))
    boundaries = {start for start, _, _ in doc.metadata.get("sections", [])} & graphemes
    tokenizer = load_tokenizer("minilm")
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.start in graphemes and chunk.end in graphemes
        assert not any(chunk.start < cut < chunk.end for cut in boundaries)
        assert len(tokenizer(chunk.text, add_special_tokens=False)["input_ids"]) <= BUDGET
        sections = [s for s in doc.metadata.get("sections", []) if s[0] < chunk.end]
        inside = [s for s in sections if s[0] <= chunk.start < s[1]]
        if inside and chunk.text.strip():
            assert chunk.metadata["section_path"] == inside[-1][2]
