"""Chunks read on first use: parsed ids, one read per search, and plain-chunk behaviour."""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace

import pytest

from ragloom.stored_chunks import (
    ChunkGoneError,
    StoredChunk,
    load_chunks,
    misleading_id,
    parse_chunk_id,
    read_hits,
)
from ragloom.types import Chunk, Hit

ROWS = {
    c.id: c
    for c in (Chunk("doc#1", "alpha", 0, 5, position=0), Chunk("doc#1", "beta", 6, 10, position=1))
}
ROWS.update({c.id: c for c in (Chunk("d2", "gamma", 0, 5, metadata={"k": 1}),)})


class Reader:
    """Reads `ROWS` by id and records each call (the store's read, in miniature)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, ids: list[str]) -> dict[str, Chunk]:
        self.calls.append(sorted(ids))
        return {i: ROWS[i] for i in ids if i in ROWS}


def _search(reader: Reader, ids: list[str] | None = None) -> list[StoredChunk]:
    ids = list(ROWS) if ids is None else ids
    return StoredChunk.search_results(
        [(i, *parsed) for i in ids if (parsed := parse_chunk_id(i))], reader
    )


def test_ids_parse_to_document_and_span() -> None:
    assert parse_chunk_id("doc#1#6-10") == ("doc#1", 6, 10)
    assert parse_chunk_id("a\nb#0-3") == ("a\nb", 0, 3)
    for odd in ("uuid-1234", "doc#5", "doc#a-b", "doc#9-2", "#1-2x"):
        assert parse_chunk_id(odd) is None
    assert parse_chunk_id("#1-2") == ("", 1, 2)


def test_misleading_ids_are_those_naming_another_span() -> None:
    assert not misleading_id(Chunk("d", "abc", 0, 3))
    assert not misleading_id(Chunk("d", "abc", 0, 3, id="custom"))
    assert misleading_id(Chunk("d", "abc", 0, 3, id="d#0-4"))
    assert misleading_id(Chunk("d", "abc", 0, 3, id="other#0-3"))


def test_nothing_is_read_until_used_then_the_whole_search_at_once() -> None:
    reader = Reader()
    found = _search(reader)
    assert [(c.doc_id, c.start, c.end) for c in found] == [
        ("doc#1", 0, 5),
        ("doc#1", 6, 10),
        ("d2", 0, 5),
    ]
    assert reader.calls == [] and not any(c.is_read for c in found)
    assert found[1].text == "beta"
    assert reader.calls == [sorted(ROWS)]
    assert found[2].metadata == {"k": 1} and found[0].position == 0
    assert len(reader.calls) == 1


def test_load_chunks_reads_only_the_ones_given_in_one_call() -> None:
    reader = Reader()
    found = _search(reader)
    load_chunks([found[2], found[0], Chunk("x", "y", 0, 1)])
    assert reader.calls == [sorted([found[2].id, found[0].id])]
    assert found[2].is_read and found[0].is_read and not found[1].is_read
    load_chunks(found[:1])
    assert len(reader.calls) == 1
    assert found[1].text == "beta"
    assert reader.calls[1] == [found[1].id]


def test_read_hits_gives_plain_chunks() -> None:
    found = _search(Reader())
    hits = read_hits([Hit(found[0], 1.0, {"dense": 1.0}, {"dense": 1})])
    assert type(hits[0].chunk) is Chunk
    assert hits[0].chunk == ROWS[found[0].id]
    assert hits[0].source_ranks == {"dense": 1}


def test_a_chunk_deleted_before_it_is_read_is_an_error_naming_it() -> None:
    found = _search(Reader(), [*ROWS, "gone#0-3"])
    with pytest.raises(ChunkGoneError, match="'gone#0-3' was deleted while this query ran"):
        load_chunks(found)


def test_it_behaves_as_a_plain_chunk() -> None:
    found = _search(Reader())
    chunk = found[0]
    assert chunk == ROWS[chunk.id] and ROWS[chunk.id] == chunk
    assert chunk != ROWS[found[1].id]
    for copied in (pickle.loads(pickle.dumps(chunk)), copy.deepcopy(found[1])):
        assert type(copied) is Chunk
    assert pickle.loads(pickle.dumps(chunk)) == ROWS[chunk.id]
    cut = replace(found[2], text="gam", end=3, id="")
    assert (cut.text, cut.id, cut.metadata) == ("gam", "d2#0-3", {"k": 1})
