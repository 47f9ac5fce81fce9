"""BM25 scoring: the one tokenizer, the settings an index is built with, and the backends.

The store owns chunks and persistence; a backend only scores a tokenized corpus. Two backends
give the same BM25Okapi scores:

- ``bm25s`` (default): bm25s's eager sparse index (one CSC column of precomputed scores per
  term), so a query costs O(postings of its terms); saved as ``.npy`` + JSON, loaded with mmap.
- ``rank_bm25``: rank-bm25's ``BM25Okapi``, the reference, O(corpus) per query term.

bm25s's own "robertson" idf clamps negative idf to 0, while BM25Okapi floors it at
``epsilon * mean idf``; so the bm25s backend computes BM25Okapi's idf and term weights itself
(float64, the same operations in the same order) and hands bm25s the finished matrix.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ragloom.errors import ConfigError, Problem

TOKEN_PATTERN = r"\w+"
#: The manifest record of the default tokenizer; stopwords and stemmer add keys when set.
TOKENIZER_SETTINGS: dict[str, Any] = {"type": "regex", "pattern": TOKEN_PATTERN, "lowercase": True}
_TOKEN_RE = re.compile(TOKEN_PATTERN)
#: Joins texts for `Tokenizer.tokenize_corpus`: never a word character, nor inside a text.
SEPARATOR = "\x00"
_CORPUS_RE = re.compile(rf"{TOKEN_PATTERN}|{SEPARATOR}")
STOPWORD_LISTS = ("en",)
STEMMERS = ("english",)
_local = threading.local()


def stopword_list(name: str) -> frozenset[str]:
    """A named stopword list: "en" is bm25s's English list (Lucene's 33 words)."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset({"en": STOPWORDS_EN}[name])


def _stemmer(name: str) -> Any:
    """This thread's PyStemmer stemmer (a stemmer must not be shared between threads)."""
    stemmers = _local.__dict__.setdefault("stemmers", {})
    if name not in stemmers:
        import Stemmer

        stemmers[name] = Stemmer.Stemmer(name)
    return stemmers[name]


@dataclass(frozen=True)
class Tokenizer:
    """Lower-cased unicode `\\w+` words, optionally without stopwords, optionally stemmed (Snowball
    via PyStemmer): the one tokenizer that indexing and querying share.

    Example: ``Tokenizer(stopwords="en", stemmer="english")("The foxes ran")`` gives
    ``["fox", "ran"]``.
    """

    stopwords: str | None = None
    stemmer: str | None = None
    _stop: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.stopwords is not None and self.stopwords not in STOPWORD_LISTS:
            valid = ", ".join(STOPWORD_LISTS)
            message = f"unknown stopwords {self.stopwords!r}; valid: {valid} (or none)"
            problems.append(Problem(message, field="stopwords"))
        if self.stemmer is not None and self.stemmer not in STEMMERS:
            valid = ", ".join(STEMMERS)
            message = f"unknown stemmer {self.stemmer!r}; valid: {valid} (or none)"
            problems.append(Problem(message, field="stemmer"))
        elif self.stemmer is not None:
            try:
                import Stemmer  # noqa: F401
            except ImportError:
                message = (
                    f"stemmer={self.stemmer!r} needs PyStemmer, which is not installed: "
                    "pip install 'ragloom[stem]' (or leave stemmer unset)"
                )
                problems.append(Problem(message, field="stemmer"))
        if problems:
            raise ConfigError(problems)
        stop = stopword_list(self.stopwords) if self.stopwords else frozenset()
        object.__setattr__(self, "_stop", stop)

    def settings(self) -> dict[str, Any]:
        """What the manifest records, so an index is only read back with this tokenizer."""
        settings = dict(TOKENIZER_SETTINGS)
        if self.stopwords:
            words = "\n".join(sorted(self._stop)).encode("utf-8")
            settings["stopwords"] = self.stopwords
            settings["stopwords_sha256"] = hashlib.sha256(words).hexdigest()[:16]
        if self.stemmer:
            settings["stemmer"] = self.stemmer
        return settings

    @classmethod
    def from_settings(cls, settings: Any) -> Tokenizer | None:
        """The tokenizer a manifest records; None if this ragloom cannot reproduce it (a
        ConfigError if only PyStemmer is missing)."""
        if (
            not isinstance(settings, dict)
            or settings.get("stopwords") not in (None, *STOPWORD_LISTS)
            or settings.get("stemmer") not in (None, *STEMMERS)
        ):
            return None
        tokenizer = cls(settings.get("stopwords"), settings.get("stemmer"))
        return tokenizer if tokenizer.settings() == settings else None

    def __call__(self, text: str) -> list[str]:
        tokens: list[str] = _TOKEN_RE.findall(text.lower())
        if self._stop:
            tokens = [token for token in tokens if token not in self._stop]
        if self.stemmer:
            tokens = _stemmer(self.stemmer).stemWords(tokens)
        return tokens

    def tokenize_corpus(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Every text's tokens at once, as `__call__` gives them: (terms, the term id of each
        token occurrence, the text it belongs to), for building an index.

        One regex pass over the joined texts, stopwords dropped and stems computed once per
        distinct word rather than per occurrence: several times faster than text by text.
        """
        if any(SEPARATOR in text for text in texts):  # cannot join safely: text by text
            per_text = [self(text) for text in texts]
            terms = list(dict.fromkeys(t for tokens in per_text for t in tokens))
            number = dict(zip(terms, range(len(terms)), strict=True))
            flat = [number[t] for tokens in per_text for t in tokens]
            docs = [n for n, tokens in enumerate(per_text) for _ in tokens]
            return terms, np.asarray(flat, dtype=np.int64), np.asarray(docs, dtype=np.int64)
        words = _CORPUS_RE.findall(SEPARATOR.join(texts).lower())
        vocab = list(dict.fromkeys(words))
        number = dict(zip(vocab, range(len(vocab)), strict=True))
        ids = np.fromiter(map(number.__getitem__, words), np.int64, len(words))
        separator = number.get(SEPARATOR, -1)
        is_separator = ids == separator
        docs = np.cumsum(is_separator)[~is_separator]
        ids = ids[~is_separator]
        # Each distinct word once: dropped (stopword) or mapped to its stem's term id.
        kept = [w for w in vocab if w != SEPARATOR and w not in self._stop]
        targets = _stemmer(self.stemmer).stemWords(kept) if self.stemmer else kept
        terms = list(dict.fromkeys(targets))
        position = dict(zip(terms, range(len(terms)), strict=True))
        remap = np.full(len(vocab), -1, dtype=np.int64)
        for word, target in zip(kept, targets, strict=True):
            remap[number[word]] = position[target]
        ids = remap[ids]
        return terms, ids[ids >= 0], docs[ids >= 0]


def tokenize(text: str) -> list[str]:
    """Lower-cased unicode word tokens: the default tokenizer."""
    return _TOKEN_RE.findall(text.lower())


@dataclass(frozen=True)
class OkapiParams:
    """BM25Okapi's free parameters; rank-bm25's defaults."""

    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25

    def to_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


class Scorer(Protocol):
    """Scores a tokenized query against the corpus it was built from."""

    size: int

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


def okapi_idf(doc_freqs: Sequence[int], n_docs: int, epsilon: float) -> np.ndarray:
    """BM25Okapi's idf per term, bit for bit: `log(N - df + .5) - log(df + .5)`, negative
    values replaced by `epsilon * mean idf`.

    `doc_freqs` must be in order of first appearance in the corpus (BM25Okapi's dict order):
    the mean is a plain left-to-right float sum, as BM25Okapi computes it.
    """
    idf = [math.log(n_docs - df + 0.5) - math.log(df + 0.5) for df in doc_freqs]
    if not idf:
        return np.zeros(0, dtype=np.float64)
    total = 0.0
    for value in idf:
        total += value
    floor = epsilon * (total / len(idf))
    return np.array([floor if value < 0 else value for value in idf], dtype=np.float64)


def okapi_matrix(
    corpus_tokens: Sequence[Sequence[str]], params: OkapiParams
) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """BM25Okapi's score of every (term, entry) pair as a CSC matrix (entries x terms).

    Returns the vocabulary (term -> column, in order of first appearance) and the CSC arrays
    `data` (float64 scores), `indices` (int32 entry of each score), `indptr` (int64). Each
    score is computed with BM25Okapi's operations in its order, so per-term sums are equal.
    """
    vocab: dict[str, int] = {}
    lengths = np.fromiter((len(tokens) for tokens in corpus_tokens), np.int64, len(corpus_tokens))
    flat = np.fromiter(
        (vocab.setdefault(token, len(vocab)) for tokens in corpus_tokens for token in tokens),
        np.int64,
        int(lengths.sum()),
    )
    n_docs, n_terms = len(corpus_tokens), len(vocab)
    # (term, entry) keys sorted: CSC order, each column's entries ascending; counts = tf.
    keys, tf = np.unique(flat * n_docs + np.repeat(np.arange(n_docs), lengths), return_counts=True)
    terms, docs = np.divmod(keys, n_docs) if n_docs else (keys, keys)
    doc_freqs = np.bincount(terms, minlength=n_terms)
    idf = okapi_idf(doc_freqs.tolist(), n_docs, params.epsilon)
    if len(keys):
        k1, b = params.k1, params.b
        avgdl = int(lengths.sum()) / n_docs
        doc_len = lengths[docs]
        # rank-bm25: idf * (q_freq * (k1 + 1) / (q_freq + k1 * (1 - b + b * doc_len / avgdl)))
        data = idf[terms] * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))
    else:
        data = np.zeros(0, dtype=np.float64)
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(doc_freqs, out=indptr[1:])
    return vocab, data.astype(np.float64), docs.astype(np.int32), indptr


class BM25sScorer:
    """bm25s's sparse index holding BM25Okapi's exact scores; persists as `.npy` + JSON."""

    def __init__(self, model: Any):
        self._model = model
        self.size = int(model.scores["num_docs"])

    @classmethod
    def build(
        cls, corpus_tokens: Sequence[Sequence[str]], params: OkapiParams | None = None
    ) -> BM25sScorer:
        """Index a tokenized corpus."""
        import bm25s

        params = params or OkapiParams()
        vocab, data, indices, indptr = okapi_matrix(corpus_tokens, params)
        # "robertson" is BM25Okapi's term-frequency part; the idf is already in `data`.
        model = bm25s.BM25(k1=params.k1, b=params.b, method="robertson", dtype="float64")
        model.scores = {
            "data": data,
            "indices": indices,
            "indptr": indptr,
            "num_docs": len(corpus_tokens),
        }
        model.vocab_dict = vocab
        model.unique_token_ids_set = set(vocab.values())
        model.nonoccurrence_array = None
        return cls(model)

    def save(self, directory: Path) -> None:
        """bm25s's snapshot: `data/indices/indptr.csc.index.npy`, `vocab/params.index.json`."""
        self._model.save(directory, allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> BM25sScorer:
        """Open a saved index; with `mmap` the score arrays are paged in on demand."""
        import bm25s

        model = bm25s.BM25.load(directory, mmap=mmap, allow_pickle=False, show_progress=False)
        indptr = model.scores["indptr"]
        if model.scores["num_docs"] is None or len(indptr) != len(model.vocab_dict) + 1:
            raise ValueError(f"{directory}: inconsistent bm25s index")
        return cls(model)

    def _term_ids(self, query_tokens: Sequence[str]) -> list[int]:
        vocab = self._model.vocab_dict
        return [vocab[token] for token in query_tokens if token in vocab]

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25Okapi scores of every corpus entry; repeated query tokens count repeatedly."""
        ids = self._term_ids(query_tokens)
        if not ids:
            return np.zeros(self.size, dtype=np.float64)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float64)

    def matches(self, query_tokens: Sequence[str]) -> np.ndarray:
        """True for entries holding a query token (their score may be zero or negative)."""
        found = np.zeros(self.size, dtype=bool)
        indices, indptr = self._model.scores["indices"], self._model.scores["indptr"]
        for term in set(self._term_ids(query_tokens)):
            found[indices[indptr[term] : indptr[term + 1]]] = True
        return found


ScorerBuilder = Callable[[Sequence[Sequence[str]], OkapiParams], Scorer]
SCORERS: dict[str, ScorerBuilder] = {"bm25s": BM25sScorer.build, "rank_bm25": RankBM25Scorer}
DEFAULT_BACKEND = "bm25s"


def check_backend(backend: str) -> str:
    """The backend name if it is known; a ConfigError listing the valid ones otherwise."""
    if backend not in SCORERS:
        valid = ", ".join(sorted(SCORERS))
        raise ConfigError(f"unknown BM25 backend {backend!r}; valid backends: {valid}")
    return backend


@dataclass(frozen=True)
class BM25Settings:
    """What a BM25 index is built with: recorded in its manifest, required to read it back."""

    backend: str = DEFAULT_BACKEND
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25
    stopwords: str | None = None
    stemmer: str | None = None
    tokenizer: Tokenizer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.backend not in SCORERS:
            valid = ", ".join(sorted(SCORERS))
            message = f"unknown BM25 backend {self.backend!r}; valid backends: {valid}"
            problems.append(Problem(message, field="backend"))
        for name, low, high in (("k1", 0.0, math.inf), ("b", 0.0, 1.0), ("epsilon", 0.0, math.inf)):
            value = float(getattr(self, name))
            if not low <= value <= high:
                bounds = f"between {low} and {high}" if high < math.inf else f">= {low}"
                problems.append(Problem(f"{name} must be {bounds}, got {value}", field=name))
            object.__setattr__(self, name, value)
        try:
            tokenizer = Tokenizer(self.stopwords, self.stemmer)
        except ConfigError as exc:
            problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems)
        object.__setattr__(self, "tokenizer", tokenizer)

    @property
    def params(self) -> OkapiParams:
        return OkapiParams(self.k1, self.b, self.epsilon)

    def scoring(self) -> dict[str, Any]:
        """The manifest's "scoring" record."""
        return {"backend": self.backend, **self.params.to_dict()}

    def fields(self) -> dict[str, Any]:
        """Every setting by its parameter name (what writer and retriever must agree on)."""
        return {
            "backend": self.backend,
            "k1": self.k1,
            "b": self.b,
            "epsilon": self.epsilon,
            "stopwords": self.stopwords,
            "stemmer": self.stemmer,
        }


def build_scorer(
    backend: str, corpus_tokens: Sequence[Sequence[str]], params: OkapiParams | None = None
) -> Scorer:
    """A scorer of the named backend over a tokenized corpus."""
    return SCORERS[check_backend(backend)](corpus_tokens, params or OkapiParams())


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
