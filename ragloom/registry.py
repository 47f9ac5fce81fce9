"""Component registry: short type names -> classes. YAML can only name what is registered here.

Built-in stages register with `@register("name")` when their module is imported; third-party
packages register through the `ragloom.components` entry-point group
(`my_stage = "my_pkg.stages:MyStage"`). Nothing is ever imported from a dotted path in YAML.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points

from ragloom.component import Component

ENTRY_POINT_GROUP = "ragloom.components"
logger = logging.getLogger(__name__)

# Modules whose import registers the built-in components. They import heavy libraries lazily.
_BUILTIN_MODULES = (
    "ragloom.loaders.components",
    "ragloom.chunking.token_window",
    "ragloom.chunking.sentences",
    "ragloom.chunking.recursive",
    "ragloom.chunking.document",
    "ragloom.chunking.encoders",
    "ragloom.chunking.late",
    "ragloom.chunking.hashing",
    "ragloom.retrievers.chroma",
    "ragloom.retrievers.bm25",
    "ragloom.retrievers.fusion",
    "ragloom.rerank.reranker",
    "ragloom.generation.prompt",
    "ragloom.generation.extractive",
    "ragloom.generation.generator",
)

_registry: dict[str, type[Component]] = {}
_loaded = False


def register(name: str) -> Callable[[type[Component]], type[Component]]:
    """Class decorator: make a component available to YAML under `name`."""

    def add(cls: type[Component]) -> type[Component]:
        if not (isinstance(cls, type) and issubclass(cls, Component)):
            raise TypeError(f"@register({name!r}) needs a Component subclass, got {cls!r}")
        existing = _registry.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(
                f"component type {name!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        cls.type_name = name
        _registry[name] = cls
        return cls

    return add


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    _loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _registry:
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not break ragloom
            logger.warning("could not load component plugin %s (%s): %s", ep.name, ep.value, exc)
            continue
        register(ep.name)(cls)


def registered_types() -> dict[str, type[Component]]:
    """Every registered component type, built-in and plugin, by name."""
    _load_all()
    return dict(sorted(_registry.items()))


def suggest(name: str) -> str:
    """A ' did you mean ...?' hint for a misspelt type name, or ''."""
    close = difflib.get_close_matches(name, list(registered_types()), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def get_component_class(name: str) -> type[Component]:
    """The class registered under `name`; KeyError naming the valid types otherwise."""
    types = registered_types()
    if name not in types:
        raise KeyError(
            f"unknown component type {name!r}.{suggest(name)} "
            f"Registered types: {', '.join(types)} (see `ragloom components`)"
        )
    return types[name]
