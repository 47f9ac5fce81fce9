"""Safe YAML loading that remembers where every key came from, so errors give file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ragloom.errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Source:
    """Where a piece of configuration came from: a file (maybe none) and a key-path -> line map."""

    file: str | None = None
    lines: dict[KeyPath, int] = field(default_factory=dict)
    prefix: KeyPath = ()

    def sub(self, *path: str | int) -> Source:
        return Source(self.file, self.lines, self.prefix + path)

    def line(self, *path: str | int) -> int | None:
        """Line of the deepest known key along `path` (1-based), or None."""
        full = self.prefix + path
        for end in range(len(full), -1, -1):
            if full[:end] in self.lines:
                return self.lines[full[:end]]
        return None

    def problem(
        self,
        message: str,
        *path: str | int,
        component: str | None = None,
        field: str | None = None,
    ) -> Problem:
        return Problem(
            message, component=component, field=field, file=self.file, line=self.line(*path)
        )


def _line_map(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], file: str | None) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(
                    Problem(
                        f"duplicate key {key!r}",
                        file=file,
                        line=key_node.start_mark.line + 1,
                    )
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _line_map(item, (*path, index), lines, file)


def parse_yaml(text: str, file: str | None = None) -> tuple[Any, Source]:
    """Parse YAML with the safe loader; a syntax error becomes a ConfigError with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(Problem(f"YAML parse error: {reason}", file=file, line=line)) from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _line_map(node, (), lines, file)
    return data, Source(file, lines)


def load_yaml_file(path: str | Path) -> tuple[Any, Source]:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(Problem("file not found", file=str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Problem(f"cannot read file: {exc}", file=str(path))) from None
    return parse_yaml(text, str(path))


def dump_yaml(data: Any) -> str:
    """YAML text for plain data, keys in insertion order."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
