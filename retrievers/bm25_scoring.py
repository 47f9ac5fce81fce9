"""BM25 scoring backends: a tokenized corpus in, one score per corpus entry out.

The store owns chunks, persistence and tokenization; a backend only scores. Another backend
(bm25s, a later issue) slots in by adding a builder to `SCORERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ragloom.errors import ConfigError


@dataclass(frozen=True)
class OkapiParams:
    """BM25Okapi's free parameters; rank-bm25's defaults."""

    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25


class Scorer(Protocol):
    """Scores a tokenized query against the corpus it was built from."""

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """One float64 score per corpus entry, in corpus order."""
        ...

    def matches(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Which corpus entries contain at least one query token."""
        ...


class RankBM25Scorer:
    """rank-bm25's `BM25Okapi`: the reference implementation, exact but O(corpus) per term."""

    def __init__(self, corpus_tokens: Sequence[Sequence[str]], params: OkapiParams | None = None):
        params = params or OkapiParams()
        self.size = len(corpus_tokens)
        self._model: Any = None
        # BM25Okapi divides by the number of distinct terms and the mean length: a corpus with
        # no tokens at all cannot be built, and scores nothing anyway.
        if any(corpus_tokens):
            from rank_bm25 import BM25Okapi

            corpus = [list(tokens) for tokens in corpus_tokens]
            self._model = BM25Okapi(corpus, k1=params.k1, b=params.b, epsilon=params.epsilon)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25Okapi scores of every corpus entry (zeros for an empty corpus or query)."""
        if self._model is None or not query_tokens:
            return np.zeros(self.size, dtype=np.float64)
        return np.asarray(self._model.get_scores(list(query_tokens)), dtype=np.float64)

    def matches(self, query_tokens: Sequence[str]) -> np.ndarray:
        """True for entries holding a query token: BM25Okapi scores those below zero when the
        token is in more than half of a small corpus, yet they still match."""
        if self._model is None or not query_tokens:
            return np.zeros(self.size, dtype=bool)
        wanted = set(query_tokens)
        return np.fromiter(
            (not wanted.isdisjoint(freqs) for freqs in self._model.doc_freqs),
            dtype=bool,
            count=self.size,
        )


SCORERS: dict[str, Callable[[Sequence[Sequence[str]]], Scorer]] = {"rank_bm25": RankBM25Scorer}
DEFAULT_BACKEND = "rank_bm25"


def check_backend(backend: str) -> str:
    """The backend name if it is known; a ConfigError listing the valid ones otherwise."""
    if backend not in SCORERS:
        valid = ", ".join(sorted(SCORERS))
        raise ConfigError(f"unknown BM25 backend {backend!r}; valid backends: {valid}")
    return backend


def build_scorer(backend: str, corpus_tokens: Sequence[Sequence[str]]) -> Scorer:
    """A scorer of the named backend over a tokenized corpus."""
    return SCORERS[check_backend(backend)](corpus_tokens)


def top_positive(
    scores: np.ndarray, keys: Sequence[str], top_k: int, eligible: np.ndarray | None = None
) -> list[int]:
    """Indices of the `top_k` best eligible entries (default: positive scores), ties broken by
    key ascending (deterministic).

    Partitioning first keeps this O(n) on large corpora; every entry tied with the k-th best is
    kept as a candidate so the key tie-break sees all of them.
    """
    candidates = np.flatnonzero(scores > 0 if eligible is None else eligible)
    if len(candidates) > top_k:
        kth = np.partition(scores[candidates], len(candidates) - top_k)[len(candidates) - top_k]
        candidates = candidates[scores[candidates] >= kth]
    ordered = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), keys[i]))
    return ordered[:top_k]
