"""Fusion kernels: reciprocal rank fusion and weighted fusion of per-query normalised scores.

Pure functions over lists of `Hit`; the pipeline stages live in `ragloom.retrievers.fusion`.

Score fusion normalises each source over its OWN candidate list for this query, then sums
`weight_s * normalised_s`. What each method gives a candidate, and the floor a candidate gets
from a source that did not return it (the source's worst normalised value: a missing
candidate is taken to be no better than the worst one the source did return):

| method   | normalised score                                   | floor          | all tied / one |
|----------|----------------------------------------------------|----------------|----------------|
| `minmax` | (s - min) / (max - min)                            | 0.0            | 1.0, floor 0.0 |
| `zscore` | (s - mean) / std (population std)                  | lowest z (<0)  | 0.0, floor 0.0 |
| `dbsf`   | (s - (mean - 3 std)) / (6 std), clipped to [0, 1]  | lowest value   | 0.5, floor 0.0 |

`dbsf` is Qdrant's distribution-based score fusion (sample std, ties and single hits at 0.5).
When every candidate of a source ties there is no spread to scale by: `minmax` and `dbsf`
still rank what the source returned above what it did not, `zscore` (which has no scale
left) makes that source neutral. A source that returned nothing contributes nothing.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from ragloom.types import Chunk, Hit

#: Normalises one source's raw scores: (normalised scores in the same order, floor).
Normaliser = Callable[[Sequence[float]], tuple[list[float], float]]
#: What reciprocal rank fusion ranks: chunk ids, or corpus positions (reranker data mining).
K = TypeVar("K", str, int)


def hit_sources(hit: Hit, list_index: int, position: int) -> list[tuple[str, int, float | None]]:
    """(source, rank, raw score) of a hit: its own ranks, else its position in the list.

    A hit without `source_ranks` is ranked by its 1-based `position`, under the names of its
    `source_scores` keys or, with none, `list_<list_index>`.
    """
    if hit.source_ranks:
        return [(s, int(r), hit.source_scores.get(s)) for s, r in hit.source_ranks.items()]
    sources = list(hit.source_scores) or [f"list_{list_index}"]
    return [(s, position, hit.source_scores.get(s, hit.score)) for s in sources]


def by_document(lists: Sequence[Sequence[Hit]]) -> list[list[Hit]]:
    """Each list cut to one hit per document, ranked among documents, for document-level fusion.

    Per list and source a document keeps its best rank and that hit's raw score; ranks are then
    renumbered 1, 2, ... over documents. Every hit of a document, in every list, carries the
    same chunk: the longest any list returned for it (the first met on ties), so the fusion
    functions merge a document's hits from all sources and a reranker downstream reads the most
    of the document that retrieval gave (a whole-document BM25 chunk over a dense sentence).
    """
    chunks: dict[str, Chunk] = {}
    for hits in lists:
        for hit in hits:
            old = chunks.get(hit.chunk.doc_id)
            if old is None or _length(hit.chunk) > _length(old):
                chunks[hit.chunk.doc_id] = hit.chunk
    collapsed = []
    for list_index, hits in enumerate(lists):
        first: dict[str, Hit] = {}
        best: dict[str, dict[str, tuple[int, float | None]]] = {}
        for position, hit in enumerate(hits, 1):
            doc = hit.chunk.doc_id
            first.setdefault(doc, hit)
            for source, rank, score in hit_sources(hit, list_index, position):
                kept = best.setdefault(doc, {})
                if source not in kept or rank < kept[source][0]:
                    kept[source] = (rank, score)
        ranks: dict[str, dict[str, int]] = {doc: {} for doc in first}
        for source in {s for kept in best.values() for s in kept}:
            docs = sorted((kept[source][0], doc) for doc, kept in best.items() if source in kept)
            for new_rank, (_, doc) in enumerate(docs, 1):
                ranks[doc][source] = new_rank
        collapsed.append(
            [
                Hit(
                    chunks[doc],
                    hit.score,
                    source_scores={
                        s: float(score) for s, (_, score) in best[doc].items() if score is not None
                    },
                    source_ranks=ranks[doc],
                )
                for doc, hit in first.items()
            ]
        )
    return collapsed


def _length(chunk: Chunk) -> int:
    """A chunk's length in characters, from its span (its text may not be read yet)."""
    return chunk.end - chunk.start


def reciprocal_rank_fusion(
    lists: Sequence[Sequence[Hit]],
    k: int = 60,
    weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[Hit]:
    """Fuse ranked lists: score = sum of weight_s / (k + rank_s); best first, ties by chunk id;
    the first `limit` (default all).

    Ranks come from `hit_sources`. Every source's score and rank is kept on the fused hit; the
    chunk is the one from the first list it appeared in. A source met twice for one chunk
    keeps its best rank in the merged dicts.
    """
    weights = weights or {}
    chunks: dict[str, Chunk] = {}
    entries: list[tuple[str, int, float]] = []
    ranks: dict[str, dict[str, int]] = {}
    scores: dict[str, dict[str, float]] = {}
    for list_index, hits in enumerate(lists):
        seen: set[str] = set()
        for position, hit in enumerate(hits, 1):
            cid = hit.chunk.id
            if cid in seen:  # a list should not repeat a chunk; count its best place only
                continue
            seen.add(cid)
            chunks.setdefault(cid, hit.chunk)
            chunk_ranks = ranks.setdefault(cid, {})
            chunk_scores = scores.setdefault(cid, {})
            for source, rank, score in hit_sources(hit, list_index, position):
                entries.append((cid, rank, weights.get(source, 1.0)))
                if source not in chunk_ranks or rank < chunk_ranks[source]:
                    chunk_ranks[source] = rank
                    if score is not None:
                        chunk_scores[source] = float(score)
    fused = reciprocal_rank_scores(entries, k)
    return [
        Hit(chunks[cid], fused[cid], source_scores=scores[cid], source_ranks=ranks[cid])
        for cid in best_first(fused, limit)
    ]


def reciprocal_rank_scores(entries: Iterable[tuple[K, int, float]], k: int = 60) -> dict[K, float]:
    """Each key's RRF score: the sum of weight / (k + rank) over its (key, rank, weight) entries.

    `math.fsum` is exactly rounded, so equal sets of terms give equal scores whatever their order.
    """
    terms: dict[K, list[float]] = {}
    for key, rank, weight in entries:
        terms.setdefault(key, []).append(weight / (k + rank))
    return {key: math.fsum(values) for key, values in terms.items()}


def best_first(scores: Mapping[K, float], limit: int | None = None) -> list[K]:
    """The keys of `scores`, highest score first, ties by key (so the order is reproducible);
    the first `limit` of them when given (a partial sort)."""
    order = lambda key: (-scores[key], key)  # noqa: E731
    if limit is None or limit >= len(scores):
        return sorted(scores, key=order)
    return heapq.nsmallest(limit, scores, key=order)


def fuse_rankings(rankings: Iterable[Sequence[K]], k: int = 60) -> list[K]:
    """Plain rankings (best first, no repeats) fused by reciprocal rank, equal weights: the RRF
    of `reciprocal_rank_fusion` for keys that are not hits (corpus positions, ids)."""
    entries = ((key, rank, 1.0) for keys in rankings for rank, key in enumerate(keys, 1))
    return best_first(reciprocal_rank_scores(entries, k))


def _mean_std(scores: Sequence[float], ddof: int) -> tuple[float, float]:
    """Mean and standard deviation, exactly summed so the input order never matters."""
    mean = math.fsum(scores) / len(scores)
    return mean, math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / (len(scores) - ddof))


def minmax(scores: Sequence[float]) -> tuple[list[float], float]:
    """Min-max to [0, 1]; floor 0. All tied (or one score): every candidate gets 1.0."""
    low, high = min(scores), max(scores)
    if low == high:
        return [1.0] * len(scores), 0.0
    if math.isinf(high - low):  # finite scores whose spread overflows: halve them first
        return minmax([s / 2 for s in scores])
    return [(s - low) / (high - low) for s in scores], 0.0


# zscore and dbsf are unchanged by an affine map of the scores, so they are computed on the
# min-max values: the spread is then about 1 and squaring tiny deviations cannot underflow.


def zscore(scores: Sequence[float]) -> tuple[list[float], float]:
    """Standard scores (population std); floor = the lowest z. All tied: all 0, floor 0."""
    if min(scores) == max(scores):
        return [0.0] * len(scores), 0.0
    unit, _ = minmax(scores)
    mean, std = _mean_std(unit, ddof=0)
    values = [(u - mean) / std for u in unit]
    return values, min(values)


def dbsf(scores: Sequence[float]) -> tuple[list[float], float]:
    """Qdrant's DBSF: mean ± 3 sample std mapped to [0, 1] and clipped; ties and one hit: 0.5."""
    if min(scores) == max(scores):
        return [0.5] * len(scores), 0.0
    unit, _ = minmax(scores)
    mean, std = _mean_std(unit, ddof=1)
    low = mean - 3 * std
    values = [min(1.0, max(0.0, (u - low) / (6 * std))) for u in unit]
    return values, min(values)


NORMALISERS: dict[str, Normaliser] = {"minmax": minmax, "zscore": zscore, "dbsf": dbsf}


def _raw_score(hit: Hit, source: str, score: float | None) -> float:
    """The source's raw score for a hit; a hit without one falls back to its own score only
    when that source is its only one."""
    if score is None:
        if len(hit.source_ranks) != 1:
            raise ValueError(
                f"hit {hit.chunk.id!r} has a rank but no score for source {source!r}; "
                "score fusion needs every source's raw score in `source_scores`"
            )
        score = hit.score
    value = float(score)
    if not math.isfinite(value):
        raise ValueError(f"hit {hit.chunk.id!r} has a non-finite score {value} from {source!r}")
    return value


def _best_per_source(
    lists: Sequence[Sequence[Hit]],
) -> tuple[dict[str, Chunk], dict[str, dict[str, tuple[float, int]]]]:
    """Chunks by id, and per source the best (raw score, rank) of each of its candidates."""
    chunks: dict[str, Chunk] = {}
    best: dict[str, dict[str, tuple[float, int]]] = {}
    for list_index, hits in enumerate(lists):
        for position, hit in enumerate(hits, 1):
            cid = hit.chunk.id
            chunks.setdefault(cid, hit.chunk)
            for source, rank, score in hit_sources(hit, list_index, position):
                raw = _raw_score(hit, source, score)
                candidates = best.setdefault(source, {})
                old = candidates.get(cid)
                if old is None or (raw, -rank) > (old[0], -old[1]):
                    candidates[cid] = (raw, rank)
    return chunks, best


def score_fusion(
    lists: Sequence[Sequence[Hit]],
    method: str = "minmax",
    weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[Hit]:
    """Fuse by sum of weight_s * normalised score_s (floor when s missed); ties by chunk id;
    the first `limit` (default all).

    Normalisation is per source over its own candidates (see the module docstring). Without
    `weights` every source weighs 1.0; with them every source met must be listed (a missing
    name is an error, not a silent 1.0). The fused hit keeps each source's raw score and rank;
    a chunk a source returned twice keeps its best score from it.
    """
    if method not in NORMALISERS:
        raise ValueError(f"unknown score fusion method {method!r}; valid: {', '.join(NORMALISERS)}")
    chunks, best = _best_per_source(lists)
    sources = sorted(best)
    if weights:
        unweighted = [s for s in sources if s not in weights]
        if unweighted:
            raise ValueError(
                f"no weight for source(s) {unweighted}; weights are given for "
                f"{sorted(weights)} (name every source, or give no weights for equal ones)"
            )
    weight = {s: float(weights[s]) if weights else 1.0 for s in sources}
    if any(w < 0 or not math.isfinite(w) for w in weight.values()):
        raise ValueError(f"weights must be finite and >= 0, got {dict(weights or {})}")
    normalised: dict[str, dict[str, float]] = {}
    floors: dict[str, float] = {}
    for source in sources:
        ids = sorted(best[source])
        values, floors[source] = NORMALISERS[method]([best[source][cid][0] for cid in ids])
        normalised[source] = dict(zip(ids, values, strict=True))
    fused = {
        cid: math.fsum(weight[s] * normalised[s].get(cid, floors[s]) for s in sources)
        for cid in chunks
    }
    return [
        Hit(
            chunks[cid],
            fused[cid],
            source_scores={s: best[s][cid][0] for s in sources if cid in best[s]},
            source_ranks={s: best[s][cid][1] for s in sources if cid in best[s]},
        )
        for cid in best_first(fused, limit)
    ]
