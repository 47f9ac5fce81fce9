"""Hypothesis strategies for random metadata filters (the unit and the integration tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

RANGE_OPERATORS = ["$gt", "$gte", "$lt", "$lte"]


def conditions(values: Sequence[Any], numbers: Sequence[Any]) -> st.SearchStrategy[Any]:
    """One field's condition: a value, `$eq`/`$ne`/`$in`/`$nin` over `values`, a range
    operator or a negated one over `numbers`."""
    value = st.sampled_from(list(values))
    number = st.sampled_from(list(numbers))
    return st.one_of(
        value,
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$eq", "$ne"]), value),
        st.builds(
            lambda op, v: {op: v},
            st.sampled_from(["$in", "$nin"]),
            st.lists(value, min_size=1, max_size=3),
        ),
        st.builds(lambda op, v: {op: v}, st.sampled_from(RANGE_OPERATORS), number),
        st.builds(lambda op, v: {"$not": {op: v}}, st.sampled_from(RANGE_OPERATORS), number),
    )


def filters(
    leaves: st.SearchStrategy[dict[str, Any]], max_leaves: int = 4
) -> st.SearchStrategy[dict[str, Any]]:
    """Filters of `leaves` joined by `$and`, `$or` and `$not`."""
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(lambda items: {"$and": items}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda items: {"$or": items}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda item: {"$not": item}, inner),
        ),
        max_leaves=max_leaves,
    )
