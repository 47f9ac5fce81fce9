"""A bounded, thread-safe LRU of query embeddings: a question asked again skips the encoder.

Search traffic repeats itself (popular questions, retries, a chat front end re-asking), and a
query embedding depends only on the text and the encoder stage's settings, so a stage keeps
its own cache. Vectors are stored read-only; callers get their own list each time.

Example::

    cache = QueryCache(1024)
    vector = cache.get("what is bm25?")        # None on a miss
    cache.put("what is bm25?", np.ones(384))
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


class QueryCache:
    """The `size` most recently used query embeddings (size 0: nothing is kept)."""

    def __init__(self, size: int):
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, query: str) -> np.ndarray | None:
        """The cached vector for `query`, now most recently used, or None."""
        with self._lock:
            vector = self._vectors.get(query)
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(query)
            self.hits += 1
            return vector

    def put(self, query: str, vector: np.ndarray) -> None:
        """Keep `vector` for `query`, dropping the least recently used beyond `size`."""
        if self.size == 0:
            return
        frozen = np.array(vector, dtype=np.float32)
        frozen.flags.writeable = False
        with self._lock:
            self._vectors[query] = frozen
            self._vectors.move_to_end(query)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def __reduce__(self) -> tuple[type[QueryCache], tuple[int]]:
        """Pickled (a stage sent to a Ray actor or Serve replica): an empty cache of this size."""
        return (QueryCache, (self.size,))

    def __len__(self) -> int:
        return len(self._vectors)
