"""YAML fixture text to Python values with line numbers, read straight from libyaml's events.

PyYAML's loader first composes a node tree (two position marks and a node object per value,
then a constructor pass over the tree): for a 10,000-row fixture that is ~300 ms of its
~450 ms. :func:`parse` builds the values directly from the parser's event stream instead
(~100 ms, of which libyaml's events alone are ~60) and keeps only the positions the seed layer
reports: the line of each mapping and of each of its keys. A file using anything the event
reader does not handle itself (anchors and aliases, merge keys, tags other than the standard
scalar ones and ``!secret``, several documents, a syntax error) is read again by the
node-composing loader, which gives the same values and words every error; both readers
produce the same result (``tests/test_seed_reading.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import yaml
from yaml.events import (
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _NULL, _BOOL, _MAP, _SEQ = (_TAG + t for t in ("str", "int", "null", "bool",
                                                          "map", "seq"))
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "null", "bool", "float", "timestamp",
                                   "binary")}
SECRET_TAG = "!secret"


class Secret:
    """A value read from an environment variable; ``repr`` and ``str`` never show it."""

    __slots__ = ("env", "optional", "value")

    def __init__(self, env: str, *, optional: bool = False) -> None:
        self.env = env
        self.optional = optional
        self.value: Any = None

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


def has_secret(value: Any) -> bool:
    """Whether ``value`` is, or contains, a :class:`Secret`."""
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secret(v) for v in value)
    return False


class LineDict(dict[Any, Any]):
    """A mapping with the line it starts on and the line of each key (1-based)."""

    line = 0
    lines: dict[Any, int]


# libyaml's parser where PyYAML was built with it.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []
        self.secrets = False  # whether a !secret was read


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in data.lines:
            loader.duplicates.append((line, str(key)))
        data[key] = loader.construct_object(value_node, deep=True)
        data.lines[key] = line


def _construct_secret(loader: _Loader, node: yaml.Node) -> Secret:
    loader.secrets = True
    if isinstance(node, yaml.ScalarNode):
        return Secret(str(loader.construct_scalar(node)))
    spec = loader.construct_mapping(node, deep=True) if isinstance(node, yaml.MappingNode) else {}
    return _secret_from(spec, node.start_mark)


def _secret_from(spec: dict[Any, Any], mark: Any) -> Secret:
    env = spec.get("env")
    if not isinstance(env, str) or set(spec) - {"env", "optional"}:
        raise yaml.constructor.ConstructorError(
            None, None, "!secret takes a variable name or {env: NAME, optional: true}", mark)
    return Secret(env, optional=bool(spec.get("optional", False)))


_Loader.add_constructor(_MAP, _construct_map)
_Loader.add_constructor(SECRET_TAG, _construct_secret)


Parsed = tuple[Any, list[tuple[int, str]], bool]


def parse(text: str) -> Parsed:
    """The document of ``text`` (None when empty), its duplicate keys as (line, key), and
    whether it holds a ``!secret``.

    Mappings are :class:`LineDict`. Raises :class:`yaml.YAMLError` for text that is not
    one well-formed YAML document.
    """
    try:
        return _from_events(text)
    except Exception:  # noqa: BLE001 - anything unusual: the composing loader decides
        return _from_nodes(text)


# How many values aliases may bring into one file, beyond those written in it. An alias
# costs nothing to read, but what is built from the file is as big as its expansion: a
# "billion laughs" file of 600 bytes expands to 10**9 values and would hang every later step.
ALIAS_BUDGET = 200_000


def _from_nodes(text: str) -> Parsed:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [], False
        _check_expansion(node)
        return loader.construct_document(node), loader.duplicates, loader.secrets
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand it beyond :data:`ALIAS_BUDGET` values (or
    into itself), naming the line of the collection where the budget ran out."""
    sizes: dict[int, int] = {}
    distinct = 0

    def size(node: yaml.Node) -> int:
        nonlocal distinct
        known = sizes.get(id(node))
        if known is not None:
            if known < 0:
                raise yaml.composer.ComposerError(
                    None, None, "an alias refers to the collection it is in (a recursive "
                    "alias): seed data cannot be infinite", node.start_mark)
            return known
        distinct += 1
        sizes[id(node)] = -1
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        if total - distinct > ALIAS_BUDGET:
            raise yaml.composer.ComposerError(
                None, None, f"aliases expand this file to more than {ALIAS_BUDGET:,} values "
                "beyond those written in it (an alias bomb?): repeat fewer values through "
                "anchors (&) and aliases (*)", node.start_mark)
        sizes[id(node)] = total
        return total

    size(root)


class _Unsupported(Exception):
    """Something the event reader leaves to the node-composing loader."""


_NOKEY = object()


def _from_events(text: str) -> Parsed:
    loader = _Loader(text)
    try:
        get = loader.get_event
        get()  # stream start
        event = get()
        if type(event) is StreamEndEvent:
            return None, [], False
        if type(event) is not DocumentStartEvent:
            raise _Unsupported
        duplicates: list[tuple[int, str]] = []
        doc = _document(loader, duplicates)
        get()  # document end
        if type(get()) is not StreamEndEvent:
            raise _Unsupported  # several documents: the loader words the error
        return doc, duplicates, loader.secrets
    finally:
        loader.dispose()


def _document(loader: _Loader, duplicates: list[tuple[int, str]]) -> Any:
    """One node's value, built from events.

    A frame of ``stack`` is an open collection: [list, None, 0], [mapping, pending key, the
    key's line], or for ``!secret {env: ...}`` [dict, pending key, 0, its mark]. A value is
    put into the innermost frame as it is completed; the outermost is the document.
    """
    get = loader.get_event
    scalar = _scalar_reader(loader)
    # The common case without a call: a string starting with no implicit type's character.
    starts = loader.yaml_implicit_resolvers
    stack: list[list[Any]] = []
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            value = event.value
            if (event.tag is not None or event.anchor is not None or not value
                    or value[0] in starts):
                value = scalar(event)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            stack.append(_opened(loader, event))
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            frame = stack.pop()
            value = frame[0] if len(frame) == 3 else _secret_from(frame[0], frame[3])
        else:
            raise _Unsupported  # an alias
        if not stack:
            return value
        # the value into its container: appended, a pending key, or a key's value
        frame = stack[-1]
        container = frame[0]
        if type(container) is list:
            container.append(value)
        elif frame[1] is _NOKEY:
            if kind is not ScalarEvent or isinstance(value, Secret):
                raise _Unsupported  # a collection as a key
            frame[1] = value
            frame[2] = event.start_mark.line + 1
        elif len(frame) == 4:
            if kind is not ScalarEvent:
                raise _Unsupported
            container[frame[1]] = value
            frame[1] = _NOKEY
        else:
            key = frame[1]
            if key in container.lines:
                duplicates.append((frame[2], str(key)))
            container[key] = value
            container.lines[key] = frame[2]
            frame[1] = _NOKEY


def _scalar_reader(loader: _Loader) -> Callable[[ScalarEvent], Any]:
    """A function from a scalar's event to its value, as the loader would construct it.

    Events are typed ``Any`` below: yaml's stubs give their marks as PyYAML's or libyaml's,
    or None, where the parser always sets one that ScalarNode takes.
    """
    resolve = loader.resolve
    constructors = loader.yaml_constructors
    bools = loader.bool_values
    resolved: dict[str, str] = {}  # field names repeat on every row
    # Plain scalars whose first character starts no implicit type (int, bool, null, date, ...)
    # are strings, as the resolver would find; quoted ones always are.
    starts = loader.yaml_implicit_resolvers
    if None in starts or loader.yaml_path_resolvers:
        raise _Unsupported  # a resolver for any first character, or by path: none to skip

    def scalar(event: Any) -> Any:
        if event.anchor is not None:
            raise _Unsupported
        tag = event.tag
        text = event.value
        if tag is None or tag == "!":
            implicit = event.implicit
            if not implicit[0] or (text and text[0] not in starts):
                return text
            tag = resolved.get(text)
            if tag is None:
                tag = resolved[text] = resolve(ScalarNode, text, implicit)
        if tag == _STR:
            return text
        if tag == _INT and text.isascii() and text.isdigit() and (
                text[0] != "0" or len(text) == 1):
            return int(text)
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return bools[text.lower()]
        if tag == SECRET_TAG:
            loader.secrets = True
            return Secret(text)
        if tag in _SCALAR_TAGS:
            return constructors[tag](loader, ScalarNode(tag, text, event.start_mark,
                                                        event.end_mark, event.style))
        raise _Unsupported  # merge keys, '=', other tags

    return scalar


def _opened(loader: _Loader, event: Any) -> list[Any]:
    """The frame of the collection that ``event`` (a mapping's or sequence's start) opens."""
    if event.anchor is not None:
        raise _Unsupported
    if type(event) is SequenceStartEvent:
        if event.tag not in (None, "!", _SEQ):
            raise _Unsupported
        return [[], None, 0]
    if event.tag == SECRET_TAG:
        loader.secrets = True
        return [{}, _NOKEY, 0, event.start_mark]
    if event.tag not in (None, "!", _MAP):
        raise _Unsupported
    mapping = LineDict()
    mapping.line = event.start_mark.line + 1
    mapping.lines = {}
    return [mapping, _NOKEY, 0]


class Rows:
    """The items of a fixture's ``rows``, with their positions.

    ``special`` holds the items that must be looked at value by value: anything that is not a
    mapping, a mapping with a field name that is not a string, and any holding a ``!secret``.
    ``columns``, where given, holds the same items as one list of values per field: every
    item is then a mapping of exactly those fields, in that order. Positions not given are
    taken from the items (:class:`LineDict`) when first asked for.
    """

    __slots__ = ("_items", "_key_lines", "_lines", "columns", "special")

    def __init__(self, items: list[Any] | None, lines: list[int] | None,
                 key_lines: list[dict[Any, int] | None] | None, special: set[int],
                 columns: dict[str, list[Any]] | None = None) -> None:
        self._items = items
        self.columns = columns
        self._lines = lines
        self._key_lines = key_lines
        self.special = special

    @property
    def items(self) -> list[Any]:
        """The rows as mappings (made from the columns on first use)."""
        if self._items is None:
            assert self.columns is not None
            names = list(self.columns)
            self._items = [dict(zip(names, values, strict=True))
                           for values in zip(*self.columns.values(), strict=True)]
        return self._items

    @property
    def lines(self) -> list[int]:
        """The line each item starts on (0: not known)."""
        if self._lines is None:
            self._lines = [getattr(item, "line", 0) for item in self.items]
        return self._lines

    @property
    def key_lines(self) -> list[dict[Any, int] | None]:
        """Per item: the keys on another line than the item's (None: none)."""
        if self._key_lines is None:
            self._key_lines = [
                {k: at for k, at in item.lines.items() if at != item.line} or None
                if isinstance(item, LineDict) else None for item in self.items]
        return self._key_lines


def split_rows(items: list[Any], *, secrets: bool = True) -> Rows:
    """``items`` as :class:`Rows`; ``secrets``: whether the file may hold a ``!secret``."""
    if not secrets and all(type(item) is LineDict for item in items) and all(
            type(k) is str for k in itertools.chain.from_iterable(items)):
        return Rows(items, None, None, set())  # the usual fixture: nothing special
    special: set[int] = set()
    for i, item in enumerate(items):
        if not isinstance(item, LineDict) or not all(
                type(k) is str and not _holds_secret(v) for k, v in item.items()):
            special.add(i)
    return Rows(items, None, None, special)


def _holds_secret(value: Any) -> bool:
    kind = type(value)
    if kind is Secret:
        return True
    if kind is LineDict or kind is dict:
        return any(_holds_secret(v) for v in value.values())
    if kind is list:
        return any(_holds_secret(v) for v in value)
    return False
