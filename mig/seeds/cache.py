"""The seed cache: what reading and loading fixtures derives from their content, kept on disk.

Reading a 10,000-row fixture costs ~150 ms of YAML parsing even from libyaml's events; the
parsed result, kept as JSON, loads in a few milliseconds. Kept as well: the ``COPY`` text of a
table's rows and the fingerprint of a table as seeded (:mod:`mig.seeds.fast`). An entry's name
is a SHA-256 over the file's bytes and everything else that shapes the result (this format,
mig's and PyYAML's versions, libyaml or not; for the others the columns' types and the
server's settings), so an edited file is simply a new entry: nothing is ever stale. An entry
holds what the files say and nothing more: a ``!secret`` stays a marker (the variable's name),
never its value, and a table with a secret has no COPY text or fingerprint. Entries are written
to a temporary file and renamed into place, so a reader sees a whole entry or none, and two
runs writing the same entry at once are harmless; an entry whose checksum or shape is wrong is
ignored (and overwritten by the next write). Deleting the folder is always safe.
``MIG_SEED_CACHE=off`` (or ``seed_cache = off`` in ``yoyo.ini``) turns it off.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..about import VERSION
from .reader import LineDict, Rows, Secret

FORMAT = 1
MAX_ENTRIES = 512  # past this, the oldest half is removed
# Everything besides a file's bytes that shapes what reading it gives.
_VERSION = f"{FORMAT}:{VERSION}:{yaml.__version__}:{getattr(yaml, '__with_libyaml__', False)}"


class SeedCache:
    """A folder of cache entries. Failing to read or write one never fails a seed run."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def key(self, kind: str, *parts: bytes | str) -> str:
        """The cache key of an entry of ``kind`` made from ``parts`` (and the format version)."""
        digest = hashlib.sha256(f"{_VERSION}:{kind}".encode())
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()

    def get(self, key: str) -> Any:
        """The value stored under ``key``; None when absent, unreadable or damaged."""
        try:
            data = (self.folder / f"{key}.json").read_bytes()
            header, _, body = data.partition(b"\n")
            meta = json.loads(header)
            if meta != {"format": FORMAT, "key": key,
                        "sha256": hashlib.sha256(body).hexdigest()}:
                return None
            return json.loads(body)
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON) under ``key``, atomically; problems are ignored."""
        try:
            body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
            header = json.dumps({"format": FORMAT, "key": key,
                                 "sha256": hashlib.sha256(body).hexdigest()}).encode()
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(header + b"\n" + body)
                os.replace(tmp, self.folder / f"{key}.json")
            except BaseException:
                os.unlink(tmp)
                raise
            self._trim()
        except (OSError, ValueError, TypeError):
            return

    def _trim(self) -> None:
        entries = [e for e in os.scandir(self.folder) if e.name.endswith(".json")]
        if len(entries) <= MAX_ENTRIES:
            return
        entries.sort(key=lambda e: e.stat().st_mtime)
        for entry in entries[: len(entries) - MAX_ENTRIES // 2]:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


# --- values <-> JSON ---------------------------------------------------------------------

_NATIVE = (str, int, float, bool, type(None))


class Uncacheable(Exception):
    """A value the cache cannot keep exactly: the file is read from YAML every time."""


def native(value: Any) -> bool:
    """Whether JSON gives ``value`` back as it is (str keys, no dates, no markers)."""
    kind = type(value)
    if kind in _NATIVE:
        return True
    if kind is list:
        return all(native(v) for v in value)
    if kind is dict or kind is LineDict:
        return all(type(k) is str and native(v) for k, v in value.items())
    return False


def tag(value: Any) -> Any:
    """``value`` as JSON in which every list stands for a tagged value (see :func:`untag`)."""
    if type(value) in _NATIVE:
        return value
    if isinstance(value, LineDict):
        return ["M", value.line, [[tag(k), value.lines.get(k, 0), tag(v)]
                                  for k, v in value.items()]]
    if isinstance(value, dict):
        return ["D", [[tag(k), tag(v)] for k, v in value.items()]]
    if isinstance(value, (list, tuple, set, frozenset)):
        kind = {list: "L", tuple: "T", set: "S", frozenset: "F"}.get(type(value))
        if kind is None:
            raise Uncacheable(type(value).__name__)
        return [kind, [tag(v) for v in value]]
    if isinstance(value, dt.datetime):
        return ["t", value.isoformat()]
    if isinstance(value, dt.date):
        return ["d", value.isoformat()]
    if isinstance(value, bytes):
        return ["b", base64.b64encode(value).decode("ascii")]
    if isinstance(value, Secret):
        return ["s", value.env, value.optional]  # the marker only, never the value
    raise Uncacheable(type(value).__name__)


def untag(data: Any) -> Any:
    """A cached document back as the reader made it (mappings with their lines, secrets)."""
    if not isinstance(data, list):
        return data
    kind = data[0]
    if kind == "M":
        mapping = LineDict()
        mapping.line = data[1]
        mapping.lines = {}
        for key, line, value in data[2]:
            key = untag(key)
            mapping[key] = untag(value)
            mapping.lines[key] = line
        return mapping
    if kind == "D":
        return {untag(k): untag(v) for k, v in data[1]}
    if kind in ("L", "T", "S", "F"):
        items = [untag(v) for v in data[1]]
        return {"L": list, "T": tuple, "S": set, "F": frozenset}[kind](items)
    if kind == "t":
        return dt.datetime.fromisoformat(data[1])
    if kind == "d":
        return dt.date.fromisoformat(data[1])
    if kind == "b":
        return base64.b64decode(data[1])
    if kind == "s":
        return Secret(data[1], optional=bool(data[2]))
    raise ValueError(f"unknown tag {kind!r}")


# --- parsed fixtures ---------------------------------------------------------------------


def dump_parsed(doc: LineDict) -> Any:
    """A parsed fixture as JSON (``doc["rows"]`` is :class:`Rows`); None if it cannot be kept.

    Rows whose values JSON gives back as they are travel as plain objects (fast to load);
    the others, and everything outside ``rows``, are tagged.
    """
    rows: Rows = doc["rows"]
    items: list[Any] = []
    tagged: list[list[Any]] = []
    columns = _columns(rows)
    try:
        for i, item in enumerate(rows.items if columns is None else ()):
            if i not in rows.special and native(item):
                items.append(item)
            else:
                items.append(None)
                tagged.append([i, tag(item)])
        rest = LineDict(doc)
        rest.line, rest.lines = doc.line, doc.lines
        rest["rows"] = None
        return {"doc": tag(rest), "items": items, "tagged": tagged, "lines": rows.lines,
                "fields": list(columns or ()), "columns": list((columns or {}).values()),
                "key_lines": [[[tag(k), at] for k, at in kl.items()] if kl else None
                              for kl in rows.key_lines],
                "special": sorted(rows.special)}
    except Uncacheable:
        return None


def _columns(rows: Rows) -> dict[str, list[Any]] | None:
    """The rows as one list per field, where every row is a plain mapping of the same fields
    (the usual fixture); None otherwise."""
    items = rows.items
    if rows.special or not items or not isinstance(items[0], dict) or not items[0]:
        return None
    names = tuple(items[0])
    if not all(tuple(item) == names and native(item) for item in items):
        return None
    return {name: [item[name] for item in items] for name in names}


def load_parsed(data: Any) -> LineDict | None:
    """The parsed fixture that :func:`dump_parsed` stored; None for anything malformed."""
    if data is None:
        return None
    try:
        doc = untag(data["doc"])
        lines, key_lines = data["lines"], data["key_lines"]
        key_lines = [{untag(k): at for k, at in kl} if kl else None for kl in key_lines]
        if data["fields"]:
            columns = dict(zip(data["fields"], data["columns"], strict=True))
            if not all(len(c) == len(lines) for c in columns.values()):
                return None
            rows = Rows(None, lines, key_lines, set(), columns)
        else:
            items = data["items"]
            for i, value in data["tagged"]:
                items[i] = untag(value)
            if len(items) != len(lines):
                return None
            rows = Rows(items, lines, key_lines, set(data["special"]))
        if not (isinstance(doc, LineDict) and len(key_lines) == len(lines)):
            return None
        doc["rows"] = rows
        return doc
    except (KeyError, TypeError, ValueError, IndexError):
        return None
