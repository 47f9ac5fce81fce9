"""Model-free stand-in encoders for tests and plumbing benchmarks: signed feature hashing.

`hashing_encoder` (chunks) and `hashing_query_encoder` (queries) embed text without a model.
Each lower-cased `\\w+` word, and with `ngram: 2` also each pair of adjacent words, is hashed
with BLAKE2b into one of `dimension` buckets, where it adds +1 or -1 (the sign is the hash's
top bit, so collisions cancel on average instead of piling up); each vector is then
L2-normalised, as float32. Texts that share words share buckets, so retrieval works, on word
overlap alone. Use these stages to measure storage, indexing and orchestration (Chroma, Ray
Data, incremental runs) without a model's cost, never to judge retrieval quality.

- Deterministic across processes and machines: BLAKE2b, never Python's salted `hash()`. The
  hash scheme is frozen; changing it would need a new `model` name in the manifest record.
- A text whose vector is zero (no word at all, or words whose signs cancel exactly) gets a
  fixed unit vector, 1/sqrt(dimension) in every component: Chroma's cosine distance is
  undefined for a zero vector.
- The index manifest records `{"model": "hashing", "dimension": ..., "ngram": ...}`
  (`ragloom.config.encoder_record`), so a query pipeline whose `hashing_query_encoder` differs
  from the index's `hashing_encoder` is refused.
- Speed on one core (2026-12, 20,000 random 60-word texts from a 20,000-word Zipf vocabulary):
  ~50,000 texts/s through `embed` with `ngram: 1` (`ngram: 2` up to ~20 % slower; the `\\w+`
  split takes about half); the `hashing_encoder` stage, which also copies each Chunk, ~45,000
  chunks/s (35,000 on a busy machine). `batch_size` (texts per numpy pass) changes this by
  less than the run-to-run noise.

Example YAML (the stages of examples/hashing-dense.yaml)::

    indexing:
      components:
        encoder:
          type: hashing_encoder
          init_parameters: {dimension: 384, ngram: 1}
    query:
      components:
        query_encoder:
          type: hashing_query_encoder
          init_parameters: {dimension: 384, ngram: 1}
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from ragloom.component import Component, output_types
from ragloom.registry import register
from ragloom.types import Chunk

_WORD = re.compile(r"\w+")
#: Words whose hashes are remembered; the memo starts over when it reaches this size.
_MEMO_LIMIT = 1 << 20
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class _WordHashes(dict[str, int]):
    """word -> its 64-bit BLAKE2b hash, computed once per word."""

    def __missing__(self, word: str) -> int:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        value = self[word] = int.from_bytes(digest, "little")
        return value


_word_hashes = _WordHashes()


def pair_hashes(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """64-bit hashes of ordered word pairs from their words' hashes (splitmix64 finaliser)."""
    mixed = (first * _GOLDEN) ^ second  # uint64 array arithmetic wraps modulo 2**64
    mixed ^= mixed >> np.uint64(30)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(27)
    mixed *= np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    return mixed


def hash_embed(texts: Sequence[str], dimension: int, ngram: int = 1) -> np.ndarray:
    """Signed feature-hashing vectors of `texts`: float32 [len(texts), dimension], unit rows."""
    words = [_WORD.findall(text.lower()) for text in texts]
    counts = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    total = int(counts.sum())
    flat = map(_word_hashes.__getitem__, itertools.chain.from_iterable(words))
    hashes = np.fromiter(flat, dtype=np.uint64, count=total)
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    if ngram == 2:
        adjacent = rows[1:] == rows[:-1]
        pairs = pair_hashes(hashes[:-1][adjacent], hashes[1:][adjacent])
        hashes = np.concatenate([hashes, pairs])
        rows = np.concatenate([rows, rows[1:][adjacent]])
    buckets = (hashes % np.uint64(dimension)).astype(np.int64)
    signs = 1.0 - 2.0 * (hashes >> np.uint64(63)).astype(np.float64)
    sums = np.bincount(rows * dimension + buckets, signs, minlength=len(texts) * dimension)
    vectors = sums.reshape(len(texts), dimension)
    norms = np.linalg.norm(vectors, axis=1)
    zero = norms == 0
    vectors[zero] = 1.0
    norms[zero] = np.sqrt(dimension)
    return (vectors / norms[:, None]).astype(np.float32)


class _HashingStage(Component):
    """Settings shared by the chunk and query sides (which must agree; the manifest checks)."""

    def __init__(
        self,
        dimension: Annotated[int, Field(gt=0)] = 384,
        ngram: Literal[1, 2] = 1,
        batch_size: Annotated[int, Field(gt=0)] = 256,
    ):
        self.dimension = dimension
        self.ngram = ngram
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit float32 rows for `texts`, hashed `batch_size` texts per numpy pass."""
        parts = [
            hash_embed(texts[start : start + self.batch_size], self.dimension, self.ngram)
            for start in range(0, len(texts), self.batch_size)
        ]
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(parts)


@register("hashing_encoder")
class HashingEncoder(_HashingStage):
    """Embeds each chunk by signed feature hashing of its words: no model (tests, benchmarks).

    Example YAML::

        encoder:
          type: hashing_encoder
          init_parameters: {dimension: 384, ngram: 1}
    """

    @output_types(chunks=list[Chunk])
    def run(self, chunks: list[Chunk]) -> dict[str, Any]:
        vectors = self.embed([c.text for c in chunks])
        return {"chunks": [replace(c, embedding=v) for c, v in zip(chunks, vectors, strict=True)]}


@register("hashing_query_encoder")
class HashingQueryEncoder(_HashingStage):
    """Embeds a query like `hashing_encoder` embeds chunks (same `dimension` and `ngram`).

    Example YAML::

        query_encoder:
          type: hashing_query_encoder
          init_parameters: {dimension: 384, ngram: 1}
    """

    @output_types(embedding=list[float])
    def run(self, query: str) -> dict[str, Any]:
        return {"embedding": self.embed([query])[0].tolist()}

    def run_batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Many queries in one pass (`ragloom.roles.BatchRunner`; Ray Serve batches with it)."""
        vectors = self.embed([call["query"] for call in calls])
        return [{"embedding": vector.tolist()} for vector in vectors]
