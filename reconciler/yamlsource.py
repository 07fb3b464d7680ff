"""Reading YAML that users wrote, safely, keeping where every value came from.

PyYAML's own loaders are not enough here: the C composer recurses natively and crashes the
interpreter on deeply nested input, `yaml.load` keeps only the last of duplicated keys
silently, and constructed values forget their line numbers. This module parses with
libyaml's event parser (when present) and PyYAML's Python composer, which fails cleanly on
deep nesting, then builds plain values from the core YAML tags only: an application tag such
as `!!python/object` is an error, never a constructor call.
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml.composer
import yaml.scanner
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

try:
    from yaml._yaml import CParser

    _FAST = True
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _FAST = False

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 64
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"

STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
TIMESTAMP = "tag:yaml.org,2002:timestamp"
MERGE = "tag:yaml.org,2002:merge"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"


class _PyLoader(Reader, Scanner, Parser, Composer, Resolver):
    """PyYAML's pure-Python loader, with this module's depth bound in the scanner too.

    A scanner looks ahead for simple keys (up to 1024 characters), so deep flow nesting
    reaches the scanner before any node reaches the composer. libyaml has its own bound
    there, with its own wording and limit that change between releases; this scanner stops
    at MAX_DEPTH with this module's message, whatever release is installed.
    """

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        Resolver.__init__(self)
        self.depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            mark = self.get_mark()
            raise YamlSourceError(_TOO_DEEP, mark.line + 1, mark.column + 1)
        Scanner.fetch_flow_collection_start(self, TokenClass)

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        return _compose_bounded(self, Composer.compose_node, parent, index)


if _FAST:

    class _CLoader(Composer, CParser, Resolver):
        """libyaml's event parser with PyYAML's Python composer, which fails cleanly."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            Resolver.__init__(self)
            self.depth = 0

        def compose_node(self, parent: Node | None, index: object) -> Node | None:
            return _compose_bounded(self, Composer.compose_node, parent, index)


def _compose_bounded(loader: Any, compose: Any, parent: Node | None, index: object) -> Node | None:
    """Composer.compose_node with a depth bound, failing at the position of the deep node."""
    loader.depth += 1
    try:
        # The root node is depth 1 here and depth 0 in _Builder: both stop at the same node.
        if loader.depth > MAX_DEPTH + 1:
            mark = loader.peek_event().start_mark
            raise YamlSourceError(_TOO_DEEP, mark.line + 1, mark.column + 1)
        if loader.check_event(AliasEvent):
            event = loader.peek_event()
            if event.anchor not in loader.anchors:
                mark = event.start_mark
                raise YamlSourceError(
                    f"undefined alias *{event.anchor}: no anchor &{event.anchor} comes before it",
                    mark.line + 1,
                    mark.column + 1,
                )
        return compose(loader, parent, index)
    finally:
        loader.depth -= 1


class YamlSourceError(Exception):
    """The file is not YAML this tool can read; line and column are 1-based."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Position:
    line: int
    column: int


def position(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass
class YamlDocument:
    """A parsed file: the plain value, and the nodes to point back into the text."""

    root: Node | None
    value: object
    duplicate_keys: list[tuple[str, Position, Position]] = field(default_factory=list)

    def node_at(self, path: tuple[object, ...]) -> Node | None:
        """The deepest node along `path` (mapping keys and list indexes)."""
        node = self.root
        for step in path:
            child = _child(node, step)
            if child is None:
                break
            node = child
        return node

    def key_node(self, path: tuple[object, ...], key: object) -> Node | None:
        """The node of `key` itself in the mapping at `path`, to point at an unknown field."""
        mapping = self.node_at(path)
        if isinstance(mapping, MappingNode):
            for key_node, _ in _pairs(mapping):
                if isinstance(key_node, ScalarNode) and _scalar(key_node) == key:
                    return key_node
        return None

    def mapping_index(self, path: tuple[object, ...]) -> dict[object, tuple[Node, Node]]:
        """Key -> (key node, value node) of the mapping at `path`, for repeated lookups."""
        mapping = self.node_at(path)
        index: dict[object, tuple[Node, Node]] = {}
        if isinstance(mapping, MappingNode):
            for key_node, value_node in _pairs(mapping):
                if isinstance(key_node, ScalarNode):
                    index.setdefault(_scalar(key_node), (key_node, value_node))
        return index

    def position_at(self, path: tuple[object, ...]) -> Position | None:
        node = self.node_at(path)
        return position(node) if node is not None else None


def _pairs(node: MappingNode) -> Iterator[tuple[Node, Node]]:
    """Key/value pairs including merged ones (`<<: *defaults`); own keys come first."""
    merged: list[Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE:
            merged.append(value_node)
        else:
            yield key_node, value_node
    for source in merged:
        sources = source.value if isinstance(source, SequenceNode) else [source]
        for item in sources:
            if isinstance(item, MappingNode):
                yield from _pairs(item)


def _child(node: Node | None, step: object) -> Node | None:
    if isinstance(node, MappingNode):
        for key_node, value_node in _pairs(node):
            if isinstance(key_node, ScalarNode) and _scalar(key_node) == step:
                return value_node
    elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step]
    return None


_SAFE = SafeConstructor()


def _scalar(node: ScalarNode) -> object:
    tag = node.tag
    if tag == STR:
        return node.value
    if tag == NULL:
        return None
    if tag == BOOL:
        return SafeConstructor.bool_values[node.value.lower()]
    if tag == INT:
        return _SAFE.construct_yaml_int(node)
    if tag == FLOAT:
        return _SAFE.construct_yaml_float(node)
    if tag == TIMESTAMP:
        return node.value
    raise YamlSourceError(
        f"unsupported YAML tag {_tag_name(tag)}: only plain values, lists and mappings are allowed",
        *_line_col(node),
    )


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml") else tag


def _line_col(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Builds plain values from nodes; shared (aliased) nodes are built once."""

    def __init__(self) -> None:
        self.memo: dict[int, object] = {}
        self.duplicates: list[tuple[str, Position, Position]] = []

    def build(self, node: Node, depth: int = 0) -> object:
        if depth > MAX_DEPTH:
            raise YamlSourceError(_TOO_DEEP, *_line_col(node))
        known = self.memo.get(id(node), _MISSING)
        if known is not _MISSING:
            return known
        if isinstance(node, ScalarNode):
            value = _scalar(node)
        elif isinstance(node, SequenceNode):
            if node.tag != SEQ:
                raise YamlSourceError(
                    f"unsupported YAML tag {_tag_name(node.tag)}", *_line_col(node)
                )
            items: list[object] = []
            self.memo[id(node)] = items
            items.extend(self.build(item, depth + 1) for item in node.value)
            return items
        elif isinstance(node, MappingNode):
            if node.tag != MAP:
                raise YamlSourceError(
                    f"unsupported YAML tag {_tag_name(node.tag)}", *_line_col(node)
                )
            mapping: dict[object, object] = {}
            self.memo[id(node)] = mapping
            self._fill_mapping(mapping, node, depth)
            return mapping
        else:  # pragma: no cover - composer yields only these three kinds
            raise YamlSourceError("unsupported YAML node", *_line_col(node))
        self.memo[id(node)] = value
        return value

    def _fill_mapping(self, mapping: dict[object, object], node: MappingNode, depth: int) -> None:
        seen: dict[object, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                if not _mergeable(value_node):
                    raise YamlSourceError(
                        "'<<' must be followed by a mapping or a list of mappings",
                        *_line_col(value_node),
                    )
                continue
            key = self._key(key_node)
            if key in seen:
                self.duplicates.append((str(key), position(seen[key]), position(key_node)))
            seen[key] = key_node
            mapping[key] = self.build(value_node, depth + 1)
        for key_node, value_node in _pairs(node):
            key = self._key(key_node)
            if key not in mapping:
                mapping[key] = self.build(value_node, depth + 1)

    @staticmethod
    def _key(node: Node) -> object:
        if not isinstance(node, ScalarNode):
            raise YamlSourceError("a mapping key must be plain text", *_line_col(node))
        return _scalar(node)


def _mergeable(node: Node) -> bool:
    if isinstance(node, MappingNode):
        return True
    return isinstance(node, SequenceNode) and all(isinstance(n, MappingNode) for n in node.value)


_MISSING = object()


def decode(data: bytes) -> str:
    """UTF-8 text of a file, or a YamlSourceError naming where it stops being text."""
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise YamlSourceError(
            "this is a binary file, not YAML text (it contains a NUL byte)",
            data.count(b"\n", 0, offset) + 1,
            offset - (data.rfind(b"\n", 0, offset) + 1) + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        raise YamlSourceError(
            f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            data.count(b"\n", 0, exc.start) + 1,
            exc.start - line_start + 1,
        ) from None


# libyaml's C composer recurses on the C stack (about 400 bytes a level) and crashes the
# interpreter on deep nesting, so it runs on a thread with a large stack, and only for text
# whose nesting cannot exceed what that stack holds: every collection is opened by its own
# indicator character, so the count of indicators bounds the depth.
_C_STACK_BYTES = 64 * 1024 * 1024
_C_SAFE_INDICATORS = 80_000
_INDICATORS = "[{-:?"


def _compose_fast(text: str) -> Node | None:
    """The C composer on a large-stack thread; raises what get_single_node raises."""
    outcome: dict[str, Any] = {}

    def compose() -> None:
        loader = yaml.CSafeLoader(text)
        try:
            outcome["root"] = loader.get_single_node()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            loader.dispose()

    previous = threading.stack_size(_C_STACK_BYTES)
    try:
        worker = threading.Thread(target=compose, name="yaml-compose")
        worker.start()
    finally:
        threading.stack_size(previous)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("root")


def _can_compose_fast(text: str) -> bool:
    return _FAST and sum(text.count(c) for c in _INDICATORS) < _C_SAFE_INDICATORS


def _compose_with(loader: Any) -> Node | None:
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _compose(text: str) -> Node | None:
    """The document's root node, with this module's messages for what this module bounds.

    The fastest loader that is safe for the text goes first. Its errors about what this module
    checks itself (aliases, nesting) carry the wording of whichever libyaml is installed, so
    a failing text is composed again by the loaders that check first: libyaml's event parser
    under PyYAML's Python composer for composer errors, and the pure-Python loader where more
    than MAX_DEPTH levels could be open at a scanner error (that many brackets before it, or
    an error that far right). Only failing files pay.
    """
    if not _FAST:
        return _compose_with(_PyLoader(text))
    fast = _can_compose_fast(text)
    try:
        return _compose_fast(text) if fast else _compose_with(_CLoader(text))
    except yaml.composer.ComposerError:
        if not fast:
            raise
        return _compose_with(_CLoader(text))
    except yaml.scanner.ScannerError as exc:
        mark = exc.problem_mark or exc.context_mark
        before = text if mark is None else text[: mark.index]
        # Flow nesting opens a bracket a level; block nesting indents a column a level.
        deep_flow = before.count("[") + before.count("{") > MAX_DEPTH
        if not deep_flow and (mark is None or mark.column <= MAX_DEPTH):
            raise
        return _compose_with(_PyLoader(text))


def parse(text: str) -> YamlDocument:
    """Parse one YAML document; raise YamlSourceError with the position of the problem."""
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or "not valid YAML"
        if exc.context and "expected a single document" in exc.context:
            message = "only one YAML document per file is allowed (found a second '---')"
        elif exc.context:
            message = f"{exc.context}: {message}"
        if mark is None:
            raise YamlSourceError(f"invalid YAML: {message}") from None
        raise YamlSourceError(f"invalid YAML: {message}", mark.line + 1, mark.column + 1) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        what = f"character #x{exc.character:04x}" if isinstance(exc.character, int) else "character"
        raise YamlSourceError(
            f"invalid YAML: unacceptable {what}: {exc.reason}", line, column
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlSourceError(_TOO_DEEP) from None
    if root is None:
        return YamlDocument(None, None)
    builder = _Builder()
    try:
        value = builder.build(root)
    except RecursionError:
        raise YamlSourceError(_TOO_DEEP) from None
    except (ValueError, TypeError) as exc:
        raise YamlSourceError(f"invalid YAML value: {exc}") from None
    return YamlDocument(root, value, builder.duplicates)


def read_bytes(path: Path) -> bytes:
    """A file's bytes, refusing files too large to be declared customers."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise YamlSourceError(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        return path.read_bytes()
    except OSError as exc:
        raise YamlSourceError(f"cannot read file: {exc.strerror or exc}") from None


def read(path: Path) -> YamlDocument:
    """Read and parse a YAML file from disk."""
    return parse(decode(read_bytes(path)))
