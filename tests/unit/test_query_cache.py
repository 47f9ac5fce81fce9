"""The query-embedding LRU: bounded, most recently used kept, vectors not shared mutably."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ragloom.chunking.query_cache import QueryCache


def test_the_least_recently_used_question_goes_first() -> None:
    cache = QueryCache(2)
    cache.put("a", np.zeros(3))
    cache.put("b", np.ones(3))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", np.full(3, 2.0))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (3, 1)


def test_a_size_of_zero_keeps_nothing() -> None:
    cache = QueryCache(0)
    cache.put("a", np.zeros(3))
    assert cache.get("a") is None and len(cache) == 0


def test_cached_vectors_are_copies_that_cannot_be_changed() -> None:
    cache = QueryCache(4)
    vector = np.arange(3, dtype=np.float32)
    cache.put("a", vector)
    vector[0] = 99
    kept = cache.get("a")
    assert kept is not None and kept.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError):
        kept[0] = 5


def test_a_pickled_cache_arrives_empty_with_its_size() -> None:
    cache = QueryCache(3)
    cache.put("a", np.zeros(2))
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.size == 3 and len(copy) == 0
