"""Rank and score fusion: the math, its edge cases, the stages, and a hybrid BM25 pipeline."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.errors import ComponentConfigError
from ragloom.pipeline import Pipeline
from ragloom.retrievers.bm25 import BM25Retriever, BM25Writer
from ragloom.retrievers.bm25_store import BM25Store
from ragloom.retrievers.fusion import (
    FusionStage,
    ReciprocalRankFusion,
    ScoreFusion,
    reciprocal_rank_fusion,
    score_fusion,
)
from ragloom.retrievers.score_fusion import (
    NORMALISERS,
    Normaliser,
    by_document,
    dbsf,
    fuse_rankings,
    minmax,
    zscore,
)
from ragloom.types import Chunk, Document, Hit

METHODS = ("minmax", "zscore", "dbsf")


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


def test_plain_rankings_fuse_like_hit_lists() -> None:
    rankings = [[3, 1, 2], [2, 3], [0]]
    assert fuse_rankings(rankings[:2]) == [3, 2, 1]  # 1/61 + 1/62 > 1/63 + 1/61 > 1/62
    assert fuse_rankings([[1, 0], [0, 1]]) == [0, 1]  # ties by key
    as_hits = [_ranked(f"s{n}", *map(str, keys)) for n, keys in enumerate(rankings)]
    assert list(map(str, fuse_rankings(rankings, k=1))) == _ids(
        reciprocal_rank_fusion(as_hits, k=1)
    )


@given(
    st.lists(st.lists(st.integers(0, 30), unique=True, max_size=15), max_size=2),
    st.integers(1, 100),
)
def test_two_rankings_fuse_as_the_hybrid_miner_summed_them(
    rankings: list[list[int]], k: int
) -> None:
    """The reranker's hybrid miner summed 1 / (k + rank) itself; two terms fsum the same."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for position, i in enumerate(ranking, 1):
            fused[i] = fused.get(i, 0.0) + 1.0 / (k + position)
    assert fuse_rankings(rankings, k) == sorted(fused, key=lambda i: (-fused[i], i))


def test_a_chunk_repeated_within_one_list_counts_once() -> None:
    hits = [*_ranked("s", "a", "b"), *_ranked("s", "a")]
    fused = reciprocal_rank_fusion([hits])
    assert fused[0].score == pytest.approx(1 / 61)


@pytest.mark.parametrize(
    ("fusion", "init_parameters"),
    [
        (
            ReciprocalRankFusion(k=5, top_k=2, weights={"bm25": 2}),
            {"k": 5, "top_k": 2, "weights": {"bm25": 2.0}},
        ),
        (
            ScoreFusion(method="zscore", top_k=2, weights={"bm25": 0.3, "dense": 0.7}),
            {"method": "zscore", "top_k": 2, "weights": {"bm25": 0.3, "dense": 0.7}},
        ),
    ],
    ids=["rrf_fusion", "score_fusion"],
)
def test_fusion_stage_top_k_and_serialisation(
    fusion: FusionStage, init_parameters: dict[str, object]
) -> None:
    lists = [_ranked("bm25", "a", "b", "c", "d", "e"), _ranked("dense", "c", "e", "f")]
    everything = fusion.fuse(lists, 100)
    assert len(everything) == 6
    for limit in range(1, 7):  # a partial sort keeps exactly the full ranking's head
        assert fusion.fuse(lists, limit) == everything[:limit]
    assert fusion.run(hits=lists)["hits"] == everything[:2]
    assert len(fusion.run(hits=lists, top_k=3)["hits"]) == 3
    data = fusion.to_dict()
    assert data == {
        "type": fusion.label(),
        "init_parameters": {**init_parameters, "group_by": "chunk"},
    }
    assert type(fusion).from_dict(data).to_dict() == data
    assert type(fusion).input_sockets()["hits"].variadic


def test_rrf_stage_keeps_the_top_k_of_its_weighted_fusion() -> None:
    fusion = ReciprocalRankFusion(k=5, top_k=2, weights={"bm25": 2})
    lists = [_ranked("bm25", "a", "b", "c"), _ranked("dense", "c")]
    assert _ids(fusion.run(hits=lists)["hits"]) == ["c", "a"]  # 2/8 + 1/6 > 2/6


@pytest.mark.parametrize("params", [{"k": 0}, {"top_k": 0}, {"weights": {"a": -1.0}}])
def test_component_rejects_bad_parameters(params: dict[str, object]) -> None:
    with pytest.raises(ComponentConfigError):
        ReciprocalRankFusion(**params)


# -- score fusion: normalisers -----------------------------------------------------------------


def _scored(source: str, *pairs: tuple[str, float]) -> list[Hit]:
    """A retriever's output with explicit raw scores, best first, 1-based ranks."""
    return [
        Hit(_chunk(cid), score, source_scores={source: score}, source_ranks={source: n})
        for n, (cid, score) in enumerate(pairs, 1)
    ]


def test_minmax_maps_to_unit_range_with_floor_zero() -> None:
    assert minmax([10.0, 6.0, 2.0]) == ([1.0, 0.5, 0.0], 0.0)


def test_zscore_uses_population_std_and_the_lowest_z_as_floor() -> None:
    values, floor = zscore([10.0, 6.0, 2.0])
    z = 4 / math.sqrt(32 / 3)
    assert values == pytest.approx([z, 0.0, -z])
    assert floor == pytest.approx(-z)


def test_dbsf_is_mean_plus_minus_three_sample_std() -> None:
    values, floor = dbsf([10.0, 6.0, 2.0])  # mean 6, sample std 4: [6 - 12, 6 + 12] -> [0, 1]
    assert values == pytest.approx([16 / 24, 12 / 24, 8 / 24])
    assert floor == pytest.approx(8 / 24)


def test_dbsf_clips_outliers_to_the_unit_range() -> None:
    scores = [100.0] + [float(n % 3) for n in range(19)]  # the outlier lies > 3 std above
    values, floor = dbsf(scores)
    assert values[0] == 1.0
    assert all(0.0 <= v <= 1.0 for v in values)
    mean = math.fsum(scores) / 20
    std = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / 19)
    assert (scores[0] - mean) / std > 3
    assert values[1] == pytest.approx((scores[1] - (mean - 3 * std)) / (6 * std))
    assert floor == min(values) >= 0.0


@pytest.mark.parametrize(
    ("normalise", "value"), [(minmax, 1.0), (zscore, 0.0), (dbsf, 0.5)], ids=METHODS
)
@pytest.mark.parametrize("scores", [[3.0, 3.0, 3.0], [0.1] * 3, [7.5]])
def test_a_source_without_spread_never_divides_by_zero(
    normalise: Normaliser, value: float, scores: list[float]
) -> None:
    values, floor = normalise(scores)
    assert values == [value] * len(scores)
    assert floor == 0.0


# -- score fusion: fusing -------------------------------------------------------------------


def test_minmax_fusion_sums_normalised_scores_with_floors() -> None:
    bm25 = _scored("bm25", ("a", 10.0), ("b", 6.0), ("c", 2.0))
    dense = _scored("dense", ("c", 0.9), ("a", 0.5), ("d", 0.1))
    fused = score_fusion([bm25, dense])
    assert [(h.chunk.id, h.score) for h in fused] == [
        ("a", 1.5),  # 1 + 0.5
        ("c", 1.0),  # 0 + 1
        ("b", 0.5),  # 0.5 + dense floor 0
        ("d", 0.0),  # bm25 floor 0 + 0
    ]


def test_a_candidate_from_one_source_gets_the_other_sources_floor() -> None:
    bm25 = _scored("bm25", ("a", 10.0), ("b", 6.0), ("c", 2.0))
    dense = _scored("dense", ("d", 0.9), ("a", 0.5), ("b", 0.3))
    for method in METHODS:
        by_id = {h.chunk.id: h for h in score_fusion([bm25, dense], method)}
        d = by_id["d"]
        assert d.source_scores == {"dense": 0.9}
        assert d.source_ranks == {"dense": 1}
        _, bm25_floor = NORMALISERS[method]([10.0, 6.0, 2.0])
        dense_values, _ = NORMALISERS[method]([0.9, 0.5, 0.3])
        assert d.score == pytest.approx(bm25_floor + dense_values[0])
        assert math.isfinite(d.score)
    minmax_d = next(h for h in score_fusion([bm25, dense]) if h.chunk.id == "d")
    assert minmax_d.score == 1.0  # floor 0, never negative and never a raw score


def test_zscore_floor_is_the_lowest_z_of_the_source() -> None:
    bm25 = _scored("bm25", ("a", 10.0), ("b", 6.0), ("c", 2.0))
    dense = _scored("dense", ("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", 1.0))
    by_id = {h.chunk.id: h for h in score_fusion([bm25, dense], "zscore")}
    assert by_id["d"].score == pytest.approx(by_id["c"].score)  # both at bm25's lowest z
    assert by_id["d"].score < 0


def test_a_zero_variance_source_gives_its_candidates_one_in_minmax() -> None:
    bm25 = _scored("bm25", ("a", 3.0), ("b", 3.0))
    dense = _scored("dense", ("a", 0.9), ("b", 0.5), ("c", 0.1))
    fused = score_fusion([bm25, dense])
    assert [(h.chunk.id, h.score) for h in fused] == [("a", 2.0), ("b", 1.5), ("c", 0.0)]
    single = score_fusion([_scored("bm25", ("x", 4.2)), _scored("dense", ("y", 0.3))])
    assert [(h.chunk.id, h.score) for h in single] == [("x", 1.0), ("y", 1.0)]


def test_score_ties_break_by_chunk_id() -> None:
    for method in METHODS:
        fused = score_fusion(
            [_scored("s1", ("b", 2.0), ("a", 1.0)), _scored("s2", ("a", 2.0), ("b", 1.0))], method
        )
        assert _ids(fused) == ["a", "b"]
        assert fused[0].score == fused[1].score


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lists", [[], [[]], [[], []]])
def test_score_fusion_of_empty_lists(method: str, lists: list[list[Hit]]) -> None:
    assert score_fusion(lists, method) == []
    assert ScoreFusion(method=method).run(hits=lists) == {"hits": []}  # type: ignore[arg-type]


def test_one_empty_list_gives_the_other_sources_normalised_ranking() -> None:
    dense = _scored("dense", ("a", 0.9), ("b", 0.7), ("c", 0.5))
    fused = score_fusion([[], dense], weights={"bm25": 0.5, "dense": 0.5})
    assert _ids(fused) == ["a", "b", "c"]
    assert [h.score for h in fused] == pytest.approx([0.5, 0.25, 0.0])
    assert fused[1].source_ranks == {"dense": 2}
    assert fused[1].source_scores == {"dense": 0.7}


def test_a_chunk_repeated_for_one_source_keeps_its_best() -> None:
    hits = [*_scored("bm25", ("a", 5.0), ("b", 3.0)), *_scored("bm25", ("a", 9.0), ("c", 1.0))]
    fused = score_fusion([hits])
    a = next(h for h in fused if h.chunk.id == "a")
    assert a.source_scores == {"bm25": 9.0}
    assert a.source_ranks == {"bm25": 1}
    assert _ids(fused) == ["a", "b", "c"]
    assert [h.score for h in fused] == [1.0, 0.25, 0.0]  # min-max over {9, 3, 1}


def test_alpha_weights_move_between_the_two_orders() -> None:
    bm25 = _scored("bm25", ("a", 9.0), ("b", 7.0), ("c", 4.0), ("d", 1.0))
    dense = _scored("dense", ("d", 0.8), ("c", 0.7), ("b", 0.6), ("a", 0.2))
    for method in METHODS:
        dense_only = score_fusion([bm25, dense], method, {"bm25": 0.0, "dense": 1.0})
        assert _ids(dense_only) == ["d", "c", "b", "a"]
        bm25_only = score_fusion([bm25, dense], method, {"bm25": 1.0, "dense": 0.0})
        assert _ids(bm25_only) == ["a", "b", "c", "d"]
    blend = {
        h.chunk.id: h.score
        for h in score_fusion([bm25, dense], "minmax", {"bm25": 0.3, "dense": 0.7})
    }
    assert blend["b"] == pytest.approx(0.3 * 6 / 8 + 0.7 * 4 / 6)


def test_weights_must_name_every_source() -> None:
    lists = [_scored("bm25", ("a", 1.0)), _scored("chroma", ("b", 1.0))]
    with pytest.raises(
        ValueError, match=r"no weight for source\(s\) \['chroma'\].*\['bm25', 'dense'\]"
    ):
        score_fusion(lists, weights={"bm25": 0.3, "dense": 0.7})
    with pytest.raises(ValueError, match="unknown score fusion method 'l2'; valid: minmax"):
        score_fusion(lists, method="l2")


def test_fused_hits_keep_every_sources_raw_score_and_rank() -> None:
    first = _scored("bm25", ("x", 12.0), ("y", 3.0))
    fused = score_fusion([first, _scored("dense", ("y", 0.8), ("x", 0.4))], "dbsf")
    x = next(h for h in fused if h.chunk.id == "x")
    assert x.source_scores == {"bm25": 12.0, "dense": 0.4}
    assert x.source_ranks == {"bm25": 1, "dense": 2}
    assert x.chunk is first[0].chunk


def test_sources_are_grouped_by_name_not_by_list() -> None:
    bm25 = _scored("bm25", ("a", 10.0), ("b", 6.0), ("c", 2.0))
    dense = _scored("dense", ("c", 0.9), ("a", 0.5), ("d", 0.1))
    merged: dict[str, Hit] = {}
    for hit in [*bm25, *dense]:  # one list whose hits each carry both sources, as RRF emits
        old = merged.setdefault(hit.chunk.id, Hit(hit.chunk, 0.0))
        old.source_scores.update(hit.source_scores)
        old.source_ranks.update(hit.source_ranks)
    for method in METHODS:
        separate = score_fusion([bm25, dense], method)
        together = score_fusion([list(merged.values())], method)
        assert [(h.chunk.id, h.score, h.source_ranks) for h in together] == [
            (h.chunk.id, h.score, h.source_ranks) for h in separate
        ]


def test_hits_without_source_names_fuse_as_list_positions() -> None:
    plain = [Hit(_chunk("a"), 0.9), Hit(_chunk("b"), 0.1)]
    fused = score_fusion([plain, _scored("kw", ("b", 4.0))])
    assert [(h.chunk.id, h.score) for h in fused] == [("a", 1.0), ("b", 1.0)]
    b = next(h for h in fused if h.chunk.id == "b")
    assert b.source_scores == {"list_0": 0.1, "kw": 4.0}
    assert b.source_ranks == {"list_0": 2, "kw": 1}
    ranked_only = Hit(_chunk("r"), 2.5, source_ranks={"s": 1})
    assert score_fusion([[ranked_only]])[0].source_scores == {"s": 2.5}


@pytest.mark.parametrize(
    "hit",
    [
        Hit(_chunk("a"), 1.0, source_ranks={"s": 1, "t": 1}, source_scores={"s": 1.0}),
        Hit(_chunk("a"), 1.0, source_scores={"s": math.nan}, source_ranks={"s": 1}),
    ],
)
def test_a_hit_without_a_usable_raw_score_is_an_error(hit: Hit) -> None:
    with pytest.raises(ValueError, match="hit 'a'"):
        score_fusion([[hit]])


def _permutation_cases() -> list[list[Hit]]:
    bm25 = _scored("bm25", ("a", 8.0), ("b", 8.0), ("c", 5.5), ("e", 0.3))
    dense = _scored("dense", ("c", 0.91), ("d", 0.9), ("a", 0.33))
    colbert = _scored("colbert", ("e", 20.0), ("a", 11.0), ("d", 10.0), ("b", 2.0))
    return [bm25, dense, colbert]


@pytest.mark.parametrize("method", METHODS)
def test_score_fusion_is_deterministic_under_input_permutations(method: str) -> None:
    lists = _permutation_cases()
    weights = {"bm25": 0.2, "dense": 0.5, "colbert": 0.3}

    def key(hits: list[Hit]) -> list[tuple[str, float, dict[str, float], dict[str, int]]]:
        return [(h.chunk.id, h.score, h.source_scores, h.source_ranks) for h in hits]

    expected = key(score_fusion(lists, method, weights))
    rng = random.Random(7)
    for order in itertools.permutations(lists):
        shuffled = [rng.sample(hits, len(hits)) for hits in order]  # ranks travel with hits
        assert key(score_fusion(shuffled, method, weights)) == expected


# -- score fusion: properties -----------------------------------------------------------------

_ids_strategy = st.sampled_from("abcdefgh")
_source_lists = st.lists(
    st.tuples(
        st.sampled_from(["bm25", "dense", "colbert"]),
        st.dictionaries(_ids_strategy, st.floats(-1e6, 1e6, allow_nan=False), max_size=8),
    ),
    max_size=4,
)


def _lists_from(spec: list[tuple[str, dict[str, float]]]) -> list[list[Hit]]:
    lists = []
    for source, scores in spec:
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        lists.append(_scored(source, *ranked))
    return lists


@given(_source_lists, st.sampled_from(METHODS), st.floats(0, 10), st.floats(0, 10))
def test_fusion_is_a_sorted_permutation_of_the_candidates(
    spec: list[tuple[str, dict[str, float]]], method: str, w_bm25: float, w_dense: float
) -> None:
    lists = _lists_from(spec)
    weights = {"bm25": w_bm25, "dense": w_dense, "colbert": 1.0}
    fused = score_fusion(lists, method, weights)
    assert sorted(_ids(fused)) == sorted({h.chunk.id for hits in lists for h in hits})
    keys = [(-h.score, h.chunk.id) for h in fused]
    assert keys == sorted(keys)
    assert all(math.isfinite(h.score) for h in fused)
    if method in ("minmax", "dbsf"):
        total = math.fsum(weights[s] for s in {source for source, scores in spec if scores})
        assert all(0.0 <= h.score <= total for h in fused)


@given(_source_lists)
def test_minmax_scores_lie_within_zero_and_the_sum_of_weights(
    spec: list[tuple[str, dict[str, float]]],
) -> None:
    fused = score_fusion(_lists_from(spec))
    sources = {source for source, scores in spec if scores}
    assert all(0.0 <= h.score <= len(sources) for h in fused)
    if fused:
        assert fused[0].score > 0  # every source's best candidate scores 1 from it


# -- the score_fusion stage ---------------------------------------------------------------


def test_score_fusion_stage_keeps_the_top_k_of_its_fusion_and_says_its_defaults() -> None:
    fusion = ScoreFusion(method="zscore", top_k=2, weights={"bm25": 0.3, "dense": 0.7})
    lists = [_scored("bm25", ("a", 3.0), ("b", 2.0), ("c", 1.0)), _scored("dense", ("c", 0.9))]
    expected = _ids(score_fusion(lists, "zscore", fusion.weights))[:2]
    assert _ids(fusion.run(hits=lists)["hits"]) == expected
    assert ScoreFusion().to_dict()["init_parameters"] == {
        "method": "minmax",
        "top_k": 10,
        "weights": None,
        "group_by": "chunk",
    }


@pytest.mark.parametrize(
    "params",
    [{"method": "l2"}, {"top_k": 0}, {"weights": {"a": -1.0}}, {"weights": {"a": math.inf}}],
)
def test_score_fusion_rejects_bad_parameters(params: dict[str, object]) -> None:
    with pytest.raises(ComponentConfigError) as info:
        ScoreFusion(**params)  # type: ignore[arg-type]
    assert "score_fusion: parameter" in str(info.value)


def test_ragloom_components_lists_score_fusion() -> None:
    result = CliRunner().invoke(app, ["components", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert {"rrf_fusion", "score_fusion"} <= set(listing)
    entry = listing["score_fusion"]
    assert entry["inputs"]["hits"] == "list[Hit]"
    assert entry["parameters"]["method"]["default"] == "minmax"
    assert "'dbsf'" in entry["parameters"]["method"]["type"]


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


# -- document-level fusion ---------------------------------------------------------------------


def _piece(doc: str, text: str) -> Chunk:
    """A chunk of document `doc` whose text is `text` (id = doc#text)."""
    return Chunk(doc_id=doc, text=text, start=0, end=len(text), id=f"{doc}#{text}")


def _pieces(source: str, *pairs: tuple[Chunk, float]) -> list[Hit]:
    return [
        Hit(chunk, score, source_scores={source: score}, source_ranks={source: n})
        for n, (chunk, score) in enumerate(pairs, 1)
    ]


def test_by_document_keeps_each_sources_best_chunk_per_document_and_reranks() -> None:
    dense = _pieces(
        "dense",
        (_piece("a", "s1"), 0.9),
        (_piece("b", "s2"), 0.8),
        (_piece("a", "s3"), 0.7),  # a second sentence of a: not a new candidate
        (_piece("c", "s4"), 0.6),
    )
    bm25 = _pieces("bm25", (_piece("b", "whole b"), 12.0), (_piece("d", "whole d"), 3.0))
    grouped_dense, grouped_bm25 = by_document([dense, bm25])
    assert [(h.chunk.doc_id, h.source_ranks, h.source_scores) for h in grouped_dense] == [
        ("a", {"dense": 1}, {"dense": 0.9}),
        ("b", {"dense": 2}, {"dense": 0.8}),
        ("c", {"dense": 3}, {"dense": 0.6}),  # rank 3 among documents, not 4 among chunks
    ]
    # b's hits in both lists carry the longest chunk returned for b: BM25's whole document.
    assert grouped_dense[1].chunk.text == grouped_bm25[0].chunk.text == "whole b"
    assert grouped_dense[0].chunk.text == "s1"  # a came from dense only: its best sentence


def test_document_fusion_merges_sources_that_chunk_differently() -> None:
    dense = _pieces("dense", (_piece("a", "s1"), 0.9), (_piece("b", "s2"), 0.5))
    bm25 = _pieces("bm25", (_piece("b", "whole b"), 10.0), (_piece("a", "whole a"), 8.0))
    by_chunk = ScoreFusion(top_k=10).run(hits=[dense, bm25])["hits"]
    assert len(by_chunk) == 4  # chunk ids differ: no candidate is shared
    fused = ScoreFusion(top_k=10, group_by="document").run(hits=[dense, bm25])["hits"]
    assert [h.chunk.doc_id for h in fused] == ["a", "b"]  # a: 1 + 0; b: 0 + 1; tie by id
    assert [h.chunk.text for h in fused] == ["whole a", "whole b"]
    assert fused[0].source_ranks == {"dense": 1, "bm25": 2}
    assert fused[0].source_scores == {"dense": 0.9, "bm25": 8.0}
    rrf = ReciprocalRankFusion(group_by="document").run(hits=[dense, bm25])["hits"]
    assert [h.chunk.doc_id for h in rrf] == ["a", "b"]
    assert rrf[0].score == pytest.approx(1 / 61 + 1 / 62)


def test_document_fusion_of_empty_and_position_ranked_lists() -> None:
    assert by_document([[], []]) == [[], []]
    plain = [Hit(_piece("x", "one"), 2.0), Hit(_piece("x", "two"), 1.0), Hit(_piece("y", "t"), 0.5)]
    (grouped,) = by_document([plain])
    assert [(h.chunk.doc_id, h.source_ranks) for h in grouped] == [
        ("x", {"list_0": 1}),
        ("y", {"list_0": 2}),
    ]


def test_group_by_round_trips_and_is_validated() -> None:
    fusion = ScoreFusion(group_by="document")
    assert fusion.to_dict()["init_parameters"]["group_by"] == "document"
    assert ScoreFusion.from_dict(fusion.to_dict()).group_by == "document"
    with pytest.raises(ComponentConfigError, match="group_by"):
        ScoreFusion(group_by="sentence")  # type: ignore[arg-type]
    with pytest.raises(ComponentConfigError, match="group_by"):
        ReciprocalRankFusion(group_by="page")  # type: ignore[arg-type]
