"""`ef_search` on an index that exists: Chroma ignores the configuration given for a collection
that is already there, so a changed `chroma_writer` value used to do nothing. The writer now
stores it (and readers search with it from their next opening); a reader's own value, which
cannot apply, is reported once instead of being silently ignored."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ragloom.retrievers.chroma import ChromaRetriever, ChromaWriter
from tests.integration.test_chroma_store import _chunks

WRITE = """
import sys
from ragloom.retrievers.chroma import ChromaWriter
from tests.integration.test_chroma_store import _chunks
writer = ChromaWriter(ef_search=int(sys.argv[2]))
writer.bind_index(sys.argv[1])
writer.run(_chunks(sys.argv[3], 3))
"""
READ = """
import sys
from ragloom.retrievers.chroma import ChromaRetriever
reader = ChromaRetriever()
reader.bind_index(sys.argv[1])
reader.check_index()
print(reader.store.stored_ef_search())
"""


def python(code: str, *args: object) -> str:
    """Run `code` in a fresh interpreter (its own Chroma client), from the repository root."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_a_writer_stores_its_new_ef_search_for_the_next_readers(tmp_path: Path) -> None:
    python(WRITE, tmp_path, 50, "a")
    assert python(READ, tmp_path) == "50"
    python(WRITE, tmp_path, 300, "b")  # the next `ragloom index`, with a new ef_search
    assert python(READ, tmp_path) == "300"


def test_a_readers_own_ef_search_is_reported_not_silently_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = ChromaWriter(ef_search=120)
    writer.bind_index(tmp_path)
    writer.run(_chunks("doc", 3))
    caplog.set_level(logging.WARNING)

    quiet = ChromaRetriever()  # no ef_search of its own: nothing to report
    quiet.bind_index(tmp_path)
    quiet.check_index()
    assert not caplog.records

    asked = ChromaRetriever(ef_search=400)
    asked.bind_index(tmp_path)
    asked.check_index()
    asked.check_index()  # once, not on every query
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "ef_search 400 is not used" in messages[0]
    assert "ef_search 120" in messages[0] and "chroma_writer" in messages[0]
