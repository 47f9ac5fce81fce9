"""What every `ragloom` command shares: the --config option, one-line errors, quiet libraries.

Its own module so that the commands defined beside their stage family (`ragloom eval` in
evaluation/, `ragloom train-reranker` in rerank/) import it without importing ragloom.cli,
which imports them: the CLI sits on top and imports only downwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from ragloom.errors import RagloomError

#: `--config/-c`: the RAG configuration a command runs (index, query, eval, ...).
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="RAG configuration YAML (default: the built-in pipeline)."),
]


def err(message: str) -> None:
    """Print `message` on stderr (stdout carries results only)."""
    typer.echo(message, err=True)


@contextlib.contextmanager
def friendly_errors(exit_code: int = 1) -> Iterator[None]:
    """Turn errors into a message on stderr and an exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except RagloomError as exc:
        err(f"error: {exc}")
        raise typer.Exit(exit_code) from None
    except KeyboardInterrupt:
        err("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get("RAGLOOM_DEBUG"):
            raise
        err(f"error: {type(exc).__name__}: {exc} (set RAGLOOM_DEBUG=1 for the traceback)")
        raise typer.Exit(exit_code) from None


def quiet_libraries() -> None:
    """Log warnings to stderr and keep third-party progress bars and telemetry quiet."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # The fast tokenizers encode a batch on every core; "true" (not unset) also keeps their
    # fork warning quiet: ragloom never forks a process that goes on to use them.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    # transformers reads these when imported, so a command that never loads a model does not
    # pay ~1 s to import it here just to quiet it.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Already imported (the CLI called in-process, e.g. from Python or a test): too late for
    # the environment, so tell them directly.
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        transformers = sys.modules["transformers"]
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
