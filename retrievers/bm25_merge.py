"""The tiered merge policy of BM25 segments: few segments per size tier, deletes reclaimed.

Every commit adds a small segment, so without merging a query would visit thousands of them.
Like Lucene's TieredMergePolicy (simplified): segments are grouped in tiers by live size
(tier t holds `floor * factor**t` to `floor * factor**(t+1)` documents); once a tier holds
`factor` segments, they are merged into one of the next tier. Each document is thus rewritten
about `log_factor(N / floor)` times over the life of an index (amortised O(log N) per
document), and at most `factor - 1` segments per tier remain, O(log N) in all. A segment with
more than `max_deleted` of its documents deleted is rewritten on its own to reclaim them.

Example: ``pick_merge([("s1", 900, 0), ...])`` returns the names of one merge to run, or [].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Segments merged at once, and the size of tier 0 (documents).
MERGE_FACTOR = 10
FLOOR_DOCS = 1000
MAX_DELETED = 0.3


def tier(live_docs: int, factor: int = MERGE_FACTOR, floor: int = FLOOR_DOCS) -> int:
    """The size tier of a segment with `live_docs` live documents."""
    return int(math.log(max(live_docs, floor) / floor, factor) + 1e-9)


def pick_merge(
    segments: Sequence[tuple[str, int, int]],
    factor: int = MERGE_FACTOR,
    floor: int = FLOOR_DOCS,
    max_deleted: float = MAX_DELETED,
) -> list[str]:
    """One merge to run next: the names of the segments to merge (in the given order), or [].

    `segments` are (name, documents, deleted documents) in commit order. A segment with no
    live document, or too many deleted ones, is rewritten alone; else the oldest `factor`
    segments of the lowest full tier are merged.
    """
    for name, docs, deleted in segments:
        if docs and (deleted == docs or deleted / docs > max_deleted):
            return [name]
    by_tier: dict[int, list[str]] = {}
    for name, docs, deleted in segments:
        by_tier.setdefault(tier(docs - deleted, factor, floor), []).append(name)
    for level in sorted(by_tier):
        if len(by_tier[level]) >= factor:
            return by_tier[level][:factor]
    return []
