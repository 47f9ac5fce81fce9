"""A rendezvous stage for concurrency tests: it passes only if its parties overlap in time.

Each party touches a file named after it in a shared folder, then waits until every party has
arrived. Branches that run concurrently all arrive and pass; branches run one after another
leave the first waiting for one that never comes, so it fails (after `limit_s`, a hang guard,
not a measurement). Files work across processes, so the same stage serves the local executor's
threads and Ray actors; Ray workers import it by name (`tests.integration.rendezvous`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ragloom.component import Component, output_types
from ragloom.registry import register


@register("test_rendezvous")
class Rendezvous(Component):
    """Arrives in `folder` as `party`, waits for `parties` arrivals, passes its input through."""

    def __init__(self, folder: str, party: str, parties: int = 2, limit_s: float = 120.0):
        self.folder = folder
        self.party = party
        self.parties = parties
        self.limit_s = limit_s

    @output_types(value=Any)
    def run(self, value: Any) -> dict[str, Any]:
        folder = Path(self.folder)
        (folder / self.party).touch()
        deadline = time.monotonic() + self.limit_s
        while len(list(folder.iterdir())) < self.parties:
            if time.monotonic() > deadline:
                arrived = sorted(p.name for p in folder.iterdir())
                raise TimeoutError(
                    f"rendezvous: only {arrived} of {self.parties} parties arrived: "
                    f"the branches did not run at the same time"
                )
            time.sleep(0.01)
        return {"value": value}
