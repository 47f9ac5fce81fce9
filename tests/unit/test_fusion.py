"""Reciprocal rank fusion: the math, its edge cases, the stage, and a hybrid BM25 pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragloom.errors import ComponentConfigError
from ragloom.pipeline import Pipeline
from ragloom.retrievers.bm25 import BM25Retriever, BM25Writer
from ragloom.retrievers.bm25_store import BM25Store
from ragloom.retrievers.fusion import ReciprocalRankFusion, reciprocal_rank_fusion
from ragloom.types import Chunk, Document, Hit


def _chunk(cid: str) -> Chunk:
    return Chunk(doc_id=cid, text=cid, start=0, end=len(cid), id=cid)


def _ranked(source: str, *ids: str) -> list[Hit]:
    """A retriever's output: hits in order, each carrying its source score and 1-based rank."""
    return [
        Hit(_chunk(cid), 10.0 - n, source_scores={source: 10.0 - n}, source_ranks={source: n})
        for n, cid in enumerate(ids, 1)
    ]


def _ids(hits: list[Hit]) -> list[str]:
    return [hit.chunk.id for hit in hits]


def test_scores_sum_weighted_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([_ranked("bm25", "a", "b", "c"), _ranked("dense", "c", "a")], 60)
    by_id = {hit.chunk.id: hit for hit in fused}
    assert by_id["a"].score == pytest.approx(1 / 61 + 1 / 62)
    assert by_id["c"].score == pytest.approx(1 / 63 + 1 / 61)
    assert by_id["b"].score == pytest.approx(1 / 62)
    assert _ids(fused) == ["a", "c", "b"]


def test_candidate_in_one_list_keeps_only_its_source() -> None:
    fused = reciprocal_rank_fusion([_ranked("bm25", "a"), _ranked("dense", "b", "a")], k=1)
    b = next(hit for hit in fused if hit.chunk.id == "b")
    assert b.score == pytest.approx(1 / 2)
    assert b.source_ranks == {"dense": 1}
    assert b.source_scores == {"dense": 9.0}


def test_per_source_scores_and_ranks_are_merged() -> None:
    first = _ranked("bm25", "x", "y")
    fused = reciprocal_rank_fusion([first, _ranked("dense", "y", "x")])
    x = next(hit for hit in fused if hit.chunk.id == "x")
    assert x.source_ranks == {"bm25": 1, "dense": 2}
    assert x.source_scores == {"bm25": 9.0, "dense": 8.0}
    assert x.chunk is first[0].chunk


def test_ties_break_by_chunk_id() -> None:
    fused = reciprocal_rank_fusion([_ranked("s1", "b", "a"), _ranked("s2", "a", "b")])
    assert _ids(fused) == ["a", "b"]
    assert fused[0].score == fused[1].score
    three = [
        _ranked("s1", "z", "y", "x"),
        _ranked("s2", "x", "z", "y"),
        _ranked("s3", "y", "x", "z"),
    ]
    fused = reciprocal_rank_fusion(three)
    assert _ids(fused) == ["x", "y", "z"]
    assert fused[0].score == fused[1].score == fused[2].score


@pytest.mark.parametrize("lists", [[], [[]], [[], []]])
def test_empty_input(lists: list[list[Hit]]) -> None:
    assert reciprocal_rank_fusion(lists) == []
    assert ReciprocalRankFusion().run(hits=lists) == {"hits": []}


def test_an_empty_list_beside_a_full_one() -> None:
    fused = reciprocal_rank_fusion([[], _ranked("dense", "a", "b")])
    assert _ids(fused) == ["a", "b"]
    assert fused[1].source_ranks == {"dense": 2}


def test_weights_change_the_order() -> None:
    lists = [_ranked("bm25", "a", "b", "c"), _ranked("dense", "b", "c", "a")]
    assert _ids(reciprocal_rank_fusion(lists, k=1)) == ["b", "a", "c"]
    weighted = reciprocal_rank_fusion(lists, k=1, weights={"dense": 4.0})
    assert _ids(weighted) == ["b", "c", "a"]
    assert weighted[0].score == pytest.approx(1 / 3 + 4 / 2)
    assert _ids(reciprocal_rank_fusion(lists, k=1, weights={"bm25": 2.0})) == ["a", "b", "c"]
    assert _ids(reciprocal_rank_fusion(lists, k=1, weights={"bm25": 0.0})) == ["b", "c", "a"]


def test_hits_without_ranks_are_ranked_by_position() -> None:
    plain = [Hit(_chunk("a"), 0.9), Hit(_chunk("b"), 0.8)]
    scored = [Hit(_chunk("b"), 5.0, source_scores={"kw": 5.0})]
    fused = reciprocal_rank_fusion([plain, scored], k=10)
    assert _ids(fused) == ["b", "a"]
    assert fused[0].score == pytest.approx(1 / 12 + 1 / 11)
    assert fused[0].source_ranks == {"list_0": 2, "kw": 1}
    assert fused[0].source_scores == {"list_0": 0.8, "kw": 5.0}


def test_a_chunk_repeated_within_one_list_counts_once() -> None:
    hits = [*_ranked("s", "a", "b"), *_ranked("s", "a")]
    fused = reciprocal_rank_fusion([hits])
    assert fused[0].score == pytest.approx(1 / 61)


def test_component_top_k_and_serialisation() -> None:
    fusion = ReciprocalRankFusion(k=5, top_k=2, weights={"bm25": 2})
    lists = [_ranked("bm25", "a", "b", "c"), _ranked("dense", "c")]
    assert _ids(fusion.run(hits=lists)["hits"]) == ["c", "a"]  # 2/8 + 1/6 > 2/6
    assert len(fusion.run(hits=lists, top_k=3)["hits"]) == 3
    with pytest.raises(ValueError, match="top_k"):
        fusion.run(hits=lists, top_k=0)
    data = fusion.to_dict()
    assert data == {
        "type": "rrf_fusion",
        "init_parameters": {"k": 5, "top_k": 2, "weights": {"bm25": 2.0}},
    }
    assert ReciprocalRankFusion.from_dict(data).to_dict() == data
    assert ReciprocalRankFusion.input_sockets()["hits"].variadic


@pytest.mark.parametrize("params", [{"k": 0}, {"top_k": 0}, {"weights": {"a": -1.0}}])
def test_component_rejects_bad_parameters(params: dict[str, object]) -> None:
    with pytest.raises(ComponentConfigError):
        ReciprocalRankFusion(**params)


# -- a hybrid pipeline: two BM25 indexes feeding one variadic fusion input --------------------

TEXTS = {
    "bees": "Bees pollinate flowers and make honey from nectar.",
    "ants": "Ants build colonies; some ants farm aphids for honeydew.",
    "wasps": "Wasps hunt insects and build paper nests.",
    "honey": "Honey keeps for years because it is low in water.",
    "flowers": "Flowers attract bees with colour, scent and nectar.",
    "rocks": "Granite is an igneous rock rich in quartz.",
    "rivers": "Rivers carve valleys over millions of years.",
}


def _documents() -> list[Document]:
    return [Document(text=text, id=doc_id) for doc_id, text in TEXTS.items()]


def _chunks(size: int) -> list[Chunk]:
    chunks = []
    for doc in _documents():
        starts = range(0, len(doc.text), size)
        chunks += [
            Chunk.from_span(doc, s, min(s + size, len(doc.text)), n) for n, s in enumerate(starts)
        ]
    return chunks


def test_pipeline_fuses_two_bm25_retrievers(tmp_path: Path) -> None:
    indexing = Pipeline(index_dir=tmp_path)
    indexing.add("whole", BM25Writer(subdir="whole"))
    indexing.add("pieces", BM25Writer(subdir="pieces"))
    indexing.add_input("whole_chunks", "whole.chunks")
    indexing.add_input("piece_chunks", "pieces.chunks")
    written = indexing.run({"whole_chunks": _chunks(1000), "piece_chunks": _chunks(24)}).outputs
    assert written == {"whole.written": len(TEXTS), "pieces.written": len(_chunks(24))}

    query = Pipeline(index_dir=tmp_path)
    query.add("whole", BM25Retriever(subdir="whole", source="whole", top_k=5))
    query.add("pieces", BM25Retriever(subdir="pieces", source="pieces", top_k=5))
    query.add("fusion", ReciprocalRankFusion(k=60, top_k=4))
    query.connect("whole.hits", "fusion.hits")
    query.connect("pieces.hits", "fusion.hits")
    query.add_input("query", "whole.query", "pieces.query")
    query.add_output("hits", "fusion.hits")
    fused = query.run({"query": "bees honey nectar"})["hits"]

    whole = BM25Store(tmp_path / "whole").search("bees honey nectar", 5)
    pieces = BM25Store(tmp_path / "pieces").search("bees honey nectar", 5)
    assert whole and pieces
    expected = reciprocal_rank_fusion(
        [
            [
                Hit(h.chunk, h.score, {"whole": h.score}, {"whole": n})
                for n, h in enumerate(whole, 1)
            ],
            [
                Hit(h.chunk, h.score, {"pieces": h.score}, {"pieces": n})
                for n, h in enumerate(pieces, 1)
            ],
        ]
    )[:4]
    assert [(h.chunk.id, h.score, h.source_ranks) for h in fused] == [
        (h.chunk.id, h.score, h.source_ranks) for h in expected
    ]
    assert len(fused) == 4
    assert fused[0].chunk.doc_id == "bees"
    assert {source for h in fused for source in h.source_ranks} == {"whole", "pieces"}
