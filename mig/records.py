"""Records that print themselves: a frozen dataclass whose JSON form (``--json``) is derived
from its fields (:class:`JsonRecord`), the helpers that say how a field shows there, and the
columns of text a report's lines are laid out in."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import field
from datetime import datetime
from pathlib import PurePath
from typing import Any, ClassVar

#: A field's ``metadata``: its key in the JSON form, when not its name (the JSON keeps the
#: words it always had).
JSON_NAME = "json_name"
#: A field's ``metadata``: left out of the JSON form while at its default (a key only some
#: entries have).
OPTIONAL = "optional"
#: A field's ``metadata``: in the JSON form only while the field it names is true (a dry run's
#: rows).
ONLY_IF = "only_if"
#: A field's ``metadata``: a record whose JSON keys stand among the record's own (None: none).
INLINE = "inline"


def optional(default: Any = None, *, name: str | None = None) -> Any:
    """A field left out of the JSON form while it holds ``default``."""
    return field(default=default, metadata={OPTIONAL: True, **({JSON_NAME: name} if name else {})})


def renamed(name: str) -> Any:
    """A required field whose JSON key is ``name``."""
    return field(metadata={JSON_NAME: name})


def only_if(flag: str) -> Any:
    """A list field (empty by default) in the JSON form only while the field ``flag`` is
    true."""
    return field(default_factory=list, metadata={ONLY_IF: flag})


def inline(default: Any = dataclasses.MISSING) -> Any:
    """A record field whose JSON keys stand among those of the record holding it."""
    return field(default=default, metadata={INLINE: True})


def plain(value: Any) -> Any:
    """``value`` as JSON takes it: records by their ``to_json``, sequences as lists, times in
    ISO 8601, paths as text."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return value


class JsonRecord:
    """A dataclass whose JSON form is its fields (:func:`dataclasses.asdict`, one level), in
    their order, with the renames, optional and inlined fields their ``metadata`` names, and the
    properties :attr:`JSON_DERIVED` names, each after its field."""

    #: Properties the JSON form shows too: property -> the field it follows ("": first).
    JSON_DERIVED: ClassVar[dict[str, str]] = {}

    def to_json(self) -> dict[str, Any]:
        """The record as --json prints it."""
        assert dataclasses.is_dataclass(self)
        after: dict[str, list[str]] = {}
        for prop, previous in self.JSON_DERIVED.items():
            after.setdefault(previous, []).append(prop)
        out: dict[str, Any] = {prop: plain(getattr(self, prop)) for prop in after.get("", ())}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            shown = not (f.metadata.get(OPTIONAL) and value == f.default) and (
                ONLY_IF not in f.metadata or getattr(self, f.metadata[ONLY_IF]))
            if f.metadata.get(INLINE):
                out.update(plain(value) if value is not None else {})
            elif shown:
                out[f.metadata.get(JSON_NAME, f.name)] = plain(value)
            out.update((prop, plain(getattr(self, prop))) for prop in after.get(f.name, ()))
        return out


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """``rows`` (the first one the header) as left-aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
