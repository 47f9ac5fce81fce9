"""`kill -9` during a BM25 segment merge: the index serves the committed state, and the next
write finishes the work with exactly the chunks of a clean run.

A child process writes small batches with a merge floor of 10 documents (so the tenth
segment triggers a merge) and stops itself with SIGKILL at one of two points of the merge:
after the merged segment file is saved but before the catalogue commits it, or after the
commit but before the merged segments' files are removed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ragloom.retrievers.bm25_store import BM25Store
from ragloom.types import Chunk, Document

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from ragloom.retrievers import bm25_catalog, bm25_merge, bm25_store
    from ragloom.types import Chunk, Document

    directory, point = Path(sys.argv[1]), sys.argv[2]
    bm25_merge.FLOOR_DOCS = 10

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "before-commit":
        bm25_catalog.forget_tombstones = die  # inside the merge's transaction
    else:
        real_unlink = Path.unlink
        def unlink(self, *args, **kwargs):
            if self.suffix == ".seg":
                die()
            return real_unlink(self, *args, **kwargs)
        Path.unlink = unlink  # after the merge's commit: the old files are still there
    store = bm25_store.BM25Store(directory)
    for n in range(10):
        text = f"batch {n} words river bank money {n * 7}"
        store.write([Chunk.from_span(Document(text=text, id=f"d{n}"), 0, len(text), 0)])
    """
)


def _chunk(n: int) -> Chunk:
    text = f"batch {n} words river bank money {n * 7}"
    return Chunk.from_span(Document(text=text, id=f"d{n}"), 0, len(text), 0)


def _results(store: BM25Store) -> list[list[tuple[str, float]]]:
    queries = ["river bank", "batch 3", "money 21", "words"]
    return [[(h.chunk.id, h.score) for h in store.search(q, 10)] for q in queries]


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_a_merge_killed_mid_way_loses_nothing(tmp_path: Path, point: str) -> None:
    directory = tmp_path / "bm25"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(directory), point], capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()
    clean = BM25Store(tmp_path / "clean")
    for n in range(10):
        clean.write([_chunk(n)])
    survivor = BM25Store(directory)
    assert survivor.count() == 10  # the tenth batch committed before its merge began
    assert survivor.chunk_ids() == clean.chunk_ids()
    assert _results(survivor) == _results(clean)
    # The next write clears the debris (an unregistered merged file, or merged-away files).
    survivor.write([_chunk(10)])
    clean.write([_chunk(10)])
    live = {f"{seg.name}.seg" for seg, _ in survivor._view}
    assert {p.name for p in directory.glob("*.seg")} == live
    assert survivor.chunk_ids() == clean.chunk_ids()
    assert _results(BM25Store(directory)) == _results(clean)
