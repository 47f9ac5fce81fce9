"""A BM25 writer that stalls inside a chosen write, so a test can kill `ragloom index` while a
batch is pending: deterministic, where polling the journal for a short pending window is not.

`RAGLOOM_TEST_STALL_AT=N` makes the N-th `run` call of the process touch the file named by
`RAGLOOM_TEST_STALL_MARKER`, then sleep until killed. Without them it is a plain `bm25_writer`
(the same settings, so the recorded pipeline does not change between the killed run and the
resumed one). Run the CLI with this module imported first:
`python -c "import tests.integration.stall_writer; from ragloom.cli import main; main()" index ...`
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ragloom.component import output_types
from ragloom.registry import register
from ragloom.retrievers.bm25 import BM25Writer
from ragloom.types import Chunk

TYPE = "test_stalling_bm25_writer"


@register(TYPE)
class StallingBM25Writer(BM25Writer):
    """`bm25_writer` that stalls in its N-th write when the environment says so."""

    calls = 0

    @output_types(written=int)
    def run(self, chunks: list[Chunk], delete_documents: list[str] | None = None) -> dict[str, Any]:
        type(self).calls += 1
        if os.environ.get("RAGLOOM_TEST_STALL_AT") == str(type(self).calls):
            Path(os.environ["RAGLOOM_TEST_STALL_MARKER"]).touch()
            while True:  # until SIGKILL
                time.sleep(60)
        return super().run(chunks, delete_documents)
