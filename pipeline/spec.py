"""Safe YAML loading that remembers where every key came from, so errors give file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from ragloom.errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]
#: Values that aliases may add to a document once expanded: far above any real configuration,
#: far below what an alias bomb (nine levels of nine aliases: 9**9 values) would build.
MAX_ALIAS_EXPANSION = 10_000


class AliasError(yaml.composer.ComposerError):
    """An alias that refers to itself, or aliases that expand past MAX_ALIAS_EXPANSION."""


class BoundedSafeLoader(yaml.SafeLoader):
    """The safe loader, refusing recursive aliases and alias bombs while composing (each node
    is sized once, so refusing costs as little as the text is long)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}
        self._expanded = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        anchor = event.anchor
        # This pure-Python loader marks events with yaml.error.Mark (the stubs' union also
        # covers the C loader's Mark, which AliasError's base does not accept).
        mark = cast("yaml.error.Mark | None", event.start_mark)
        if isinstance(event, yaml.AliasEvent):
            if anchor in self._open_anchors:
                raise AliasError(
                    None,
                    None,
                    f"alias *{anchor} is inside its own anchor (a recursive alias)",
                    mark,
                )
            if anchor in self.anchors:
                self._expanded += self._size(self.anchors[anchor])
                if self._expanded > MAX_ALIAS_EXPANSION:
                    raise AliasError(
                        None,
                        None,
                        f"aliases expand past {MAX_ALIAS_EXPANSION} values at alias *{anchor}; "
                        "use fewer aliases (this limit stops alias bombs)",
                        mark,
                    )
            return super().compose_node(parent, index)
        if anchor is None:
            return super().compose_node(parent, index)
        self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(anchor)

    def _size(self, node: yaml.Node) -> int:
        """Values in `node` with every alias inside it expanded (memoised per node)."""
        if id(node) not in self._sizes:
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            self._sizes[id(node)] = 1 + sum(self._size(child) for child in children)
        return self._sizes[id(node)]


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


def _line_map(
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    file: str | None,
    seen_nodes: set[int],
) -> None:
    """Record the line of every key path; a node reached again through an alias is not walked
    again (paths below that alias resolve to the alias's own line)."""
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
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
            _line_map(value_node, (*path, key), lines, file, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _line_map(item, (*path, index), lines, file, seen_nodes)


def parse_yaml(text: str, file: str | None = None) -> tuple[Any, Source]:
    """Parse YAML with the safe loader; a syntax error, a recursive alias or an alias bomb
    becomes a one-line ConfigError with its file and line."""
    try:
        loader = BoundedSafeLoader(text)  # its reader refuses control characters at once
    except yaml.reader.ReaderError as exc:
        raise ConfigError(_reader_problem(exc, text, file)) from None
    try:
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        if node is not None:  # before constructing: that folds `<<:` merges into the nodes
            lines[()] = node.start_mark.line + 1
            _line_map(node, (), lines, file, set())
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        raise ConfigError(_reader_problem(exc, text, file)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        message = reason if isinstance(exc, AliasError) else f"YAML parse error: {reason}"
        raise ConfigError(Problem(message, file=file, line=line)) from None
    except RecursionError:
        raise ConfigError(Problem("YAML nested too deeply to read", file=file)) from None
    finally:
        loader.dispose()
    return data, Source(file, lines)


def _reader_problem(exc: yaml.reader.ReaderError, text: str, file: str | None) -> Problem:
    """A character YAML does not allow (a control character), located by line: one line
    (the reader's own message spans two)."""
    line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
    char = exc.character
    shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    return Problem(
        f"YAML parse error: character {shown} is not allowed in YAML ({exc.reason}); "
        "remove it or write it as an escape in a double-quoted string",
        file=file,
        line=line,
    )


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
