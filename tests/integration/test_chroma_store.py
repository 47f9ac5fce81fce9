"""Chroma on disk: a dense-store contract, and the writer and retriever stages over it."""

from __future__ import annotations

import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragloom.errors import ComponentConfigError
from ragloom.pipeline.graph import Pipeline
from ragloom.retrievers.chroma import ChromaRetriever, ChromaWriter
from ragloom.retrievers.chroma_store import ChromaStore, CollectionNotFound, open_client
from ragloom.retrievers.fusion import ScoreFusion
from ragloom.stored_chunks import ChunkGoneError, StoredChunk
from ragloom.types import Chunk, Document

DIM = 16
HNSW = {"space": "cosine", "ef_construction": 100, "ef_search": 100, "max_neighbors": 16}


def _vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _chunks(
    doc_id: str, n: int, metadata: dict[str, Any] | None = None, seed: int = 0
) -> list[Chunk]:
    """`n` embedded chunks of one document, each a distinct word of its text."""
    words = [f"{doc_id}-word{i}" for i in range(n)]
    doc = Document(text=" ".join(words), id=doc_id, metadata=dict(metadata or {}))
    chunks, start = [], 0
    for i, word in enumerate(words):
        chunk = Chunk.from_span(doc, start, start + len(word), i)
        chunks.append(
            replace(chunk, embedding=_vector(zlib.crc32(f"{doc_id}/{i}/{seed}".encode())))
        )
        start += len(word) + 1
    return chunks


class DenseStoreContract:
    """What every dense chunk store must do; a backend subclasses this and provides `store`.

    The store API: `write(chunks) -> int`, `search(embedding, top_k, where) -> [(chunk, score)]`,
    `count()`, `chunk_ids()`, `delete_documents(doc_ids)`.
    """

    @pytest.fixture
    def store(self, tmp_path: Path) -> Any:
        raise NotImplementedError

    def test_empty_store_finds_nothing(self, store: Any) -> None:
        assert store.count() == 0
        assert store.search(_vector(1), 5) == []

    def test_a_chunk_finds_itself_first(self, store: Any) -> None:
        chunks = _chunks("a", 6) + _chunks("b", 4)
        assert store.write(chunks) == 10
        for chunk in chunks:
            found = store.search(chunk.embedding, 3)
            assert found[0][0] == chunk
            assert found[0][1] == pytest.approx(1.0, abs=1e-4)
            scores = [score for _, score in found]
            assert scores == sorted(scores, reverse=True)

    def test_top_k_caps_results(self, store: Any) -> None:
        store.write(_chunks("a", 5))
        assert len(store.search(_vector(2), 2)) == 2
        assert len(store.search(_vector(2), 50)) == 5

    def test_writing_the_same_chunks_twice_keeps_the_count(self, store: Any) -> None:
        chunks = _chunks("a", 5) + _chunks("b", 3)
        store.write(chunks)
        store.write(chunks)
        assert store.count() == 8
        assert store.chunk_ids() == {c.id for c in chunks}

    def test_rewriting_a_document_removes_its_stale_chunks(self, store: Any) -> None:
        store.write(_chunks("a", 6) + _chunks("b", 3))
        newer = _chunks("a", 2, seed=1)
        store.write(newer)
        assert store.chunk_ids() == {c.id for c in newer} | {c.id for c in _chunks("b", 3)}
        assert store.count() == 5
        hit, score = store.search(newer[1].embedding, 1)[0]
        assert hit == newer[1] and score == pytest.approx(1.0, abs=1e-4)

    def test_delete_documents(self, store: Any) -> None:
        store.write(_chunks("a", 3) + _chunks("b", 2) + _chunks("c", 2))
        store.delete_documents(["a", "c", "never-written"])
        assert store.chunk_ids() == {c.id for c in _chunks("b", 2)}
        store.delete_documents([])
        assert store.count() == 2

    def test_metadata_round_trips_exactly(self, store: Any) -> None:
        metadata = {
            "source": "notes/é日本.txt",
            "year": 2024,
            "ratio": 0.125,
            "draft": False,
            "missing": None,
            "tags": ["a", "b", 3],
            "nested": {"authors": [{"name": "Ada", "id": 1}], "empty": {}, "list": []},
            # the store's own field names, used as user metadata
            "doc_id": "user value",
            "start": "also user",
            "metadata_json": "{not json",
        }
        chunks = _chunks("m", 3, metadata)
        store.write(chunks)
        for chunk in chunks:
            found, _ = store.search(chunk.embedding, 1)[0]
            assert found == chunk
            assert found.metadata == metadata
            assert (found.doc_id, found.start, found.end, found.position) == (
                chunk.doc_id,
                chunk.start,
                chunk.end,
                chunk.position,
            )

    def test_chunks_without_embedding_are_rejected(self, store: Any) -> None:
        chunks = _chunks("a", 3)
        chunks[1] = replace(chunks[1], embedding=None)
        with pytest.raises(ValueError, match="no embedding"):
            store.write(chunks)
        assert store.count() == 0

    def test_duplicate_chunk_ids_in_one_write_are_rejected(self, store: Any) -> None:
        store.write(_chunks("a", 2))
        chunks = _chunks("b", 3)
        chunks[2] = replace(chunks[2], id=chunks[0].id)
        with pytest.raises(ValueError, match="duplicate"):
            store.write(chunks)
        assert store.chunk_ids() == {c.id for c in _chunks("a", 2)}

    def test_writing_nothing_is_a_no_op(self, store: Any) -> None:
        assert store.write([]) == 0
        assert store.count() == 0

    def test_filters_restrict_results(self, store: Any) -> None:
        store.write(_chunks("x", 3, {"lang": "en"}) + _chunks("y", 4, {"lang": "fr"}))
        query = _chunks("y", 1)[0].embedding
        only_x = store.search(query, 10, {"doc_id": "x"})
        assert {c.doc_id for c, _ in only_x} == {"x"} and len(only_x) == 3
        only_fr = store.search(query, 10, {"lang": "fr"})
        assert {c.doc_id for c, _ in only_fr} == {"y"} and len(only_fr) == 4
        assert store.search(query, 10, {"doc_id": "nobody"}) == []
        assert len(store.search(query, 10, {})) == 7


class TestChromaStore(DenseStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ChromaStore:
        return ChromaStore(tmp_path / "chroma", "contract", HNSW)

    def test_data_is_visible_to_a_second_store_on_the_same_path(self, tmp_path: Path) -> None:
        chunks = _chunks("a", 4)
        ChromaStore(tmp_path / "chroma", "shared", HNSW).write(chunks)
        reopened = ChromaStore(tmp_path / "chroma", "shared", HNSW)
        assert reopened.chunk_ids() == {c.id for c in chunks}
        assert ChromaStore(tmp_path / "chroma", "other", HNSW).count() == 0

    def test_writes_larger_than_the_client_batch_land_completely(
        self, store: ChromaStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        client = open_client(store.path)
        asked: list[int] = []

        def tiny_batch() -> int:
            asked.append(3)
            return 3

        monkeypatch.setattr(client, "get_max_batch_size", tiny_batch)
        chunks = _chunks("big", 10)
        assert store.write(chunks) == 10
        assert asked, "the write must size its batches from the client"
        assert store.count() == 10
        assert store.chunk_ids() == {c.id for c in chunks}
        for chunk in chunks:
            assert store.search(chunk.embedding, 1)[0][0] == chunk


# -- the pipeline stages ----------------------------------------------------------------------


def _stages(index_dir: Path, **retriever_params: Any) -> tuple[ChromaWriter, ChromaRetriever]:
    writer = ChromaWriter(collection="stage-test")
    retriever = ChromaRetriever(collection="stage-test", **retriever_params)
    for stage in (writer, retriever):
        stage.bind_index(index_dir)
        stage.warm_up()
    return writer, retriever


def test_writer_and_retriever_share_the_index_directory(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path, top_k=4)
    chunks = _chunks("a", 5) + _chunks("b", 5)
    assert writer.run(chunks=chunks) == {"written": 10}
    assert (tmp_path / "chroma").is_dir()
    hits = retriever.run(query_embedding=chunks[7].embedding.tolist())["hits"]
    assert len(hits) == 4
    assert hits[0].chunk == chunks[7]


def test_retriever_hits_carry_dense_scores_and_ranks(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path, top_k=10)
    chunks = _chunks("a", 4) + _chunks("b", 3)
    writer.run(chunks=chunks)
    hits = retriever.run(query_embedding=_vector(99).tolist())["hits"]
    assert len(hits) == 7
    assert [h.source_ranks["dense"] for h in hits] == list(range(1, 8))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for hit in hits:
        assert hit.source_scores == {"dense": hit.score}
        assert set(hit.source_ranks) == {"dense"}


def test_retriever_source_name_and_run_time_top_k_and_filters(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path, top_k=10, source="vectors")
    writer.run(chunks=_chunks("a", 4) + _chunks("b", 3))
    hits = retriever.run(query_embedding=_vector(5).tolist(), top_k=2)["hits"]
    assert len(hits) == 2
    assert set(hits[0].source_scores) == set(hits[0].source_ranks) == {"vectors"}
    filtered = retriever.run(query_embedding=_vector(5).tolist(), filters={"doc_id": "b"})["hits"]
    assert {h.chunk.doc_id for h in filtered} == {"b"}
    assert [h.source_ranks["vectors"] for h in filtered] == [1, 2, 3]


def test_retriever_on_an_empty_index_returns_no_hits(tmp_path: Path) -> None:
    _, retriever = _stages(tmp_path)
    assert retriever.run(query_embedding=_vector(1).tolist()) == {"hits": []}


def test_a_retriever_over_a_missing_store_creates_nothing_and_says_what_to_do(
    tmp_path: Path,
) -> None:
    retriever = ChromaRetriever(collection="stage-test")
    retriever.bind_index(tmp_path)
    retriever.warm_up()  # a missing store is not an error until the stage runs
    with pytest.raises(CollectionNotFound) as info:
        retriever.run(query_embedding=_vector(1).tolist())
    message = str(info.value)
    assert f"the index at {tmp_path} has no Chroma collection 'stage-test'" in message
    assert "-c FILE" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no chroma/ folder, no chroma.sqlite3
    (tmp_path / "chroma").mkdir()  # a folder without Chroma's files is no store either
    with pytest.raises(CollectionNotFound):
        retriever.run(query_embedding=_vector(1).tolist())
    assert list((tmp_path / "chroma").iterdir()) == []


def test_a_retriever_of_another_collection_does_not_create_it(tmp_path: Path) -> None:
    writer, _ = _stages(tmp_path)
    writer.run(chunks=_chunks("a", 2))
    other = ChromaRetriever(collection="not-indexed")
    other.bind_index(tmp_path)
    other.warm_up()
    with pytest.raises(CollectionNotFound, match="no Chroma collection 'not-indexed'"):
        other.run(query_embedding=_vector(1).tolist())
    names = [c.name for c in open_client(tmp_path / "chroma").list_collections()]
    assert names == ["stage-test"]


def test_a_retriever_finds_a_collection_written_after_it_warmed_up(tmp_path: Path) -> None:
    retriever = ChromaRetriever(collection="stage-test")
    retriever.bind_index(tmp_path)
    retriever.warm_up()
    writer = ChromaWriter(collection="stage-test")
    writer.bind_index(tmp_path)
    chunks = _chunks("late", 3)
    writer.run(chunks=chunks)
    assert retriever.run(query_embedding=chunks[1].embedding.tolist())["hits"][0].chunk == chunks[1]


@pytest.mark.parametrize("params", [{"top_k": 0}, {"ef_search": 0}, {"space": "dot"}])
def test_invalid_retriever_settings_are_config_errors(params: dict[str, Any]) -> None:
    with pytest.raises(ComponentConfigError) as info:
        ChromaRetriever(**params)
    assert next(iter(params)) in str(info.value)


@pytest.mark.parametrize("name", ["x", "ab", "-abc", "abc-", "has space", "é-accent"])
@pytest.mark.parametrize("stage", [ChromaWriter, ChromaRetriever])
def test_collection_names_chroma_rejects_fail_at_construction(stage: type, name: str) -> None:
    with pytest.raises(ComponentConfigError) as info:
        stage(collection=name)
    assert "collection" in str(info.value)


@pytest.mark.parametrize("name", ["my..collection", "127.0.0.1"])
def test_collection_names_with_double_dots_or_ip_fail_at_construction(name: str) -> None:
    with pytest.raises(ComponentConfigError):
        ChromaWriter(collection=name)


# -- reading texts only for the hits kept -----------------------------------------------------


class CountingReads:
    """Counts the ids a real store's `read` is asked for (the store itself answers)."""

    def __init__(self, store: ChromaStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[list[str]] = []
        real = store.read

        def read(ids: list[str]) -> dict[str, Chunk]:
            self.asked.append(list(ids))
            return real(ids)

        monkeypatch.setattr(store, "read", read)


def test_search_reads_no_text_and_fusion_reads_only_what_it_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, retriever = _stages(tmp_path, top_k=30)
    chunks = _chunks("a", 10) + _chunks("b", 10) + _chunks("c", 10)
    writer.run(chunks=chunks)
    reads = CountingReads(retriever.store, monkeypatch)
    dense = retriever.run(query_embedding=chunks[4].embedding.tolist())["hits"]
    assert len(dense) == 30 and reads.asked == []
    assert all(isinstance(h.chunk, StoredChunk) and not h.chunk.is_read for h in dense)
    fused = ScoreFusion(top_k=2, group_by="document").run(hits=[dense])["hits"]
    assert reads.asked and len(reads.asked) == 1 and len(reads.asked[0]) == 2
    by_id = {c.id: c for c in chunks}
    for hit in fused:
        assert type(hit.chunk) is Chunk and hit.chunk == by_id[hit.chunk.id]
    assert fused[0].chunk == chunks[4]


def test_every_field_of_an_unread_hit_matches_an_eager_read(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path, top_k=12)
    chunks = _chunks("a", 6, {"lang": "en", "n": 3}) + _chunks("b", 6, {"lang": "fr"})
    writer.run(chunks=chunks)
    hits = retriever.run(query_embedding=_vector(7).tolist())["hits"]
    eager = retriever.store.read([h.chunk.id for h in hits])
    by_id = {c.id: c for c in chunks}
    for hit in hits:
        for field in ("id", "doc_id", "text", "start", "end", "position", "metadata"):
            assert getattr(hit.chunk, field) == getattr(eager[hit.chunk.id], field)
        assert hit.chunk == by_id[hit.chunk.id]


def test_chunks_with_their_own_ids_are_read_at_search_time(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path, top_k=5)
    chunks = [replace(c, id=f"custom-{n}") for n, c in enumerate(_chunks("a", 3))]
    writer.run(chunks=chunks)
    hits = retriever.run(query_embedding=chunks[1].embedding.tolist())["hits"]
    assert hits[0].chunk == chunks[1]
    assert all(type(h.chunk) is Chunk for h in hits)


def test_an_id_in_ragloom_form_naming_another_span_is_refused(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path)
    chunk = replace(_chunks("a", 1)[0], id="b#0-7")
    with pytest.raises(ValueError, match="'b#0-7' reads as ragloom's doc_id#start-end form"):
        writer.run(chunks=[chunk])
    assert retriever.store.count() == 0


def test_a_hit_deleted_before_its_text_is_read_names_the_chunk(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path, top_k=3)
    writer.run(chunks=_chunks("a", 3))
    hits = retriever.run(query_embedding=_vector(3).tolist())["hits"]
    writer.run(chunks=[], delete_documents=["a"])
    with pytest.raises(ChunkGoneError, match="was deleted while this query ran"):
        _ = hits[0].chunk.text


def test_a_batch_of_queries_gets_what_each_query_gets_alone(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path, top_k=4)
    writer.run(chunks=_chunks("a", 5, {"lang": "en"}) + _chunks("b", 5, {"lang": "fr"}))
    calls: list[dict[str, Any]] = [{"query_embedding": _vector(n).tolist()} for n in range(3)] + [
        {"query_embedding": _vector(8).tolist(), "top_k": 2},
        {"query_embedding": _vector(9).tolist(), "filters": {"lang": "fr"}},
        {"query_embedding": _vector(9).tolist(), "filters": {"lang": "fr"}, "top_k": 7},
    ]
    batched = retriever.run_batch(calls)
    alone = [retriever.run(**call) for call in calls]
    assert [[h.chunk.id for h in r["hits"]] for r in batched] == [
        [h.chunk.id for h in r["hits"]] for r in alone
    ]
    assert [[h.score for h in r["hits"]] for r in batched] == [
        [h.score for h in r["hits"]] for r in alone
    ]
    assert [len(r["hits"]) for r in batched] == [4, 4, 4, 2, 4, 5]


def test_hits_leaving_a_run_are_read_and_plain(tmp_path: Path) -> None:
    writer, retriever = _stages(tmp_path, top_k=3)
    chunks = _chunks("a", 4)
    writer.run(chunks=chunks)
    pipe = Pipeline(index_dir=str(tmp_path)).add("dense", retriever)
    pipe.add_input("embedding", "dense.query_embedding").add_output("hits", "dense.hits")
    hits = pipe.run({"embedding": chunks[2].embedding.tolist()}).outputs["hits"]
    assert [type(h.chunk) for h in hits] == [Chunk] * 3
    assert hits[0].chunk == chunks[2]
