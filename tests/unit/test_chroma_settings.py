"""The Chroma stages' `server` setting: validated and normalised before anything connects."""

from __future__ import annotations

import pytest

from ragloom.errors import ComponentConfigError
from ragloom.pipeline.graph import Pipeline
from ragloom.retrievers.chroma import ChromaRetriever, ChromaWriter


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("http://127.0.0.1", "http://127.0.0.1:8000"),
        ("http://localhost:9000/", "http://localhost:9000"),
        ("https://chroma.internal", "https://chroma.internal:443"),
    ],
)
def test_server_urls_are_normalised(given: str, stored: str) -> None:
    assert ChromaWriter(server=given).server == stored
    assert ChromaRetriever(server=given).to_dict()["init_parameters"]["server"] == stored


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("ftp://host:21", "http://HOST:PORT"),
        ("localhost:8000", "http://HOST:PORT"),
        ("http://host:8000/api", "no path"),
        ("http://user:secret@host:8000", "credentials"),
        ("http://host:99999", "Port out of range"),
    ],
)
def test_bad_server_urls_name_the_stage_and_field(bad: str, message: str) -> None:
    with pytest.raises(ComponentConfigError, match=message) as caught:
        ChromaWriter(server=bad)
    assert "chroma_writer" in str(caught.value) and "server" in str(caught.value)


def test_server_setting_in_yaml_round_trips() -> None:
    text = """
components:
  dense:
    type: chroma_retriever
    init_parameters: {collection: docs, server: "http://127.0.0.1:8000", top_k: 5}
inputs:
  query_embedding: [dense.query_embedding]
outputs:
  hits: dense.hits
"""
    pipe = Pipeline.from_yaml_text(text)
    assert pipe.components["dense"].server == "http://127.0.0.1:8000"  # type: ignore[attr-defined]
    assert Pipeline.from_dict(pipe.to_dict()).to_dict() == pipe.to_dict()
