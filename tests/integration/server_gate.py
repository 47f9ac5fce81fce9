"""A query stage that holds questions starting with "hold" until the test lets them go.

Registered on import as `server_test_gate`. Holding a request inside the pipeline makes the
server tests deterministic (a request is in flight for as long as the test wants), with no
timing guesses: the gate adds a line to `<folder>/entered` when a request arrives (a test can
count held requests) and waits for `<folder>/release`. A subprocess `ragloom serve` imports
this module by name.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ragloom.component import Component, output_types
from ragloom.registry import register

#: Longest a held request waits for the test (a safety net: tests release well before).
HOLD_LIMIT_S = 120.0


@register("server_test_gate")
class Gate(Component):
    """Passes the question on; one starting with "hold" waits for `<folder>/release`."""

    def __init__(self, folder: str):
        self.folder = folder

    @output_types(query=str)
    def run(self, query: str) -> dict[str, Any]:
        if query.startswith("hold"):
            folder = Path(self.folder)
            with (folder / "entered").open("a") as entered:  # a line per held request
                entered.write(f"{query}\n")
            waited = 0.0
            while not (folder / "release").exists():
                if waited > HOLD_LIMIT_S:
                    raise RuntimeError("server_test_gate: never released")
                time.sleep(0.01)
                waited += 0.01
        return {"query": query}
