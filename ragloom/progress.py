"""Progress bars for long work: on stderr, drawn on a terminal, silent otherwise."""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm.auto import tqdm


def progress_enabled() -> bool:
    """Bars are drawn when stderr is a terminal; RAGLOOM_PROGRESS=0/1 forces off/on."""
    forced = os.environ.get("RAGLOOM_PROGRESS")
    if forced is not None:
        return forced not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it") -> Any:
    """A tqdm bar writing to stderr (never stdout, which may carry JSON)."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not progress_enabled(),
        dynamic_ncols=True,
        leave=False,
    )
