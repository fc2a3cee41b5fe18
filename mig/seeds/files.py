"""What is on disk: seed fixture files, read with their line numbers and checked for shape.

Nothing here talks to a database. A fixture that is well-formed YAML of the right shape becomes
a :class:`Fixture`; everything else becomes a :class:`~mig.errors.SeedError` naming file and line,
and reading goes on so that every problem of every file is reported at once.
"""

from __future__ import annotations

import bisect
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import SeedError, did_you_mean
from .cache import SeedCache, dump_parsed, load_parsed
from .model import Fixture, Reference, Row, row_lines
from .reader import LineDict, Rows, Secret, has_secret, parse, split_rows

__all__ = ["fixture_paths", "read_fixture", "read_fixtures"]

BASE_ENV = "base"
SUFFIXES = (".yaml", ".yml")
TOP_LEVEL = ("table", "key", "rows", "references", "defaults", "owned", "update")
# How YAML writes a NUL character (only in a double-quoted string; never raw in a file).
_NUL_ESCAPE = re.compile(r"\\(?:0|x00|u0000|U00000000)")


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def fixture_paths(seeds_dir: str | os.PathLike[str], env: str | None = None) -> list[Path]:
    """The fixture files to load: ``base/`` then ``<env>/``, each in file-name order."""
    root = Path(seeds_dir)
    envs = [BASE_ENV] if env in (None, BASE_ENV) else [BASE_ENV, str(env)]
    paths: list[Path] = []
    for name in envs:
        folder = root / name
        if not folder.is_dir():
            known = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            raise SeedError(
                f"no seed folder {display_path(folder)}",
                file=display_path(folder),
                hint=f"environments found in {display_path(root)}: {', '.join(known) or 'none'}",
            )
        paths += sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    return paths


def read_fixtures(
    seeds_dir: str | os.PathLike[str], env: str | None = None, *,
    cache: SeedCache | None = None,
) -> tuple[list[Fixture], list[SeedError]]:
    """Every fixture of ``base/`` (and ``<env>/``) and every problem found while reading them.

    With ``cache``, a file read before is taken from the cache instead of parsed again.
    """
    fixtures: list[Fixture] = []
    problems: list[SeedError] = []
    for path in fixture_paths(seeds_dir, env):
        fixture, found = read_fixture(path, cache=cache)
        problems += found
        if fixture is not None:
            fixtures.append(fixture)
    return fixtures, problems


def read_fixture(path: Path, *, cache: SeedCache | None = None,
                 ) -> tuple[Fixture | None, list[SeedError]]:
    """One fixture file: the fixture (None when unusable) and its problems."""
    file = display_path(path)

    def problem(message: str, line: int | None, key: dict[str, Any] | None = None) -> SeedError:
        return SeedError(message, file=file, line=line, key=key)

    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [problem(f"cannot read the file: {exc}", None)]
    if "\r" in text:  # as text mode reads it
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    key = cache.key("fixture", data) if cache is not None else ""
    doc = load_parsed(cache.get(key)) if cache is not None else None
    if doc is None:
        try:
            doc, duplicates, secrets = parse(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            return None, [problem(f"invalid YAML: {_yaml_error(exc)}",
                                  mark.line + 1 if mark else None)]
        except yaml.YAMLError as exc:
            return None, [problem(f"invalid YAML: {exc}", None)]
        if isinstance(doc, LineDict) and isinstance(doc.get("rows"), list):
            doc["rows"] = split_rows(doc["rows"], secrets=secrets)
        if duplicates:  # a file with problems is not kept
            fixture, problems = _checked(path, file, doc, [], problem)
            if fixture is not None:
                fixture.nul_escapes = _NUL_ESCAPE.search(text) is not None
            return fixture, problems + [
                problem(f"duplicate field {name!r}", line, _key_at(fixture, line))
                for line, name in duplicates]
        if cache is not None and isinstance(doc, LineDict) and isinstance(doc.get("rows"), Rows):
            stored = dump_parsed(doc)
            if stored is not None:
                cache.put(key, stored)
    fixture, problems = _checked(path, file, doc, [], problem)
    if fixture is not None:
        fixture.digest = key
        fixture.nul_escapes = _NUL_ESCAPE.search(text) is not None
    return fixture, problems


def _yaml_error(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, and where what it was reading began: the line of a syntax error is
    where the parser noticed it, often after the real mistake (an unclosed ``{`` or quote)."""
    context, mark = exc.context or "", exc.context_mark
    if not (exc.problem and context and mark and exc.problem_mark):
        return " ".join(str(p) for p in (context, exc.problem) if p)
    thing = re.sub(r"^while (?:parsing|scanning) ", "", context)
    verb = "started" if "scalar" in thing or "directive" in thing else "opened"
    return f"{exc.problem}, in {thing} {verb} at line {mark.line + 1}"


def _checked(path: Path, file: str, doc: Any, problems: list[SeedError], problem: Any,
             ) -> tuple[Fixture | None, list[SeedError]]:
    if not isinstance(doc, LineDict):
        got = "an empty file" if doc is None else type(doc).__name__
        return None, [problem(f"a fixture is a mapping with table, key and rows; got {got}", 1)]
    return _fixture(path, file, doc, problems, problem), problems


def _key_at(fixture: Fixture | None, line: int) -> dict[str, Any] | None:
    """The natural key of the row that holds ``line`` (None: the line is in no row)."""
    rows_line = fixture.lines.get("rows") if fixture is not None else None
    if fixture is None or rows_line is None or line <= rows_line:
        return None
    after = [n for n in fixture.lines.values() if n > rows_line]
    if after and line >= min(after):
        return None  # a field after the rows
    starts = [row.line for row in fixture.rows]
    at = bisect.bisect_right(starts, line) - 1
    return fixture.key_of(fixture.rows[at]) if at >= 0 else None



def _names(value: Any) -> tuple[str, ...] | None:
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list) and names and all(isinstance(n, str) and n for n in names):
        return tuple(names) if len(set(names)) == len(names) else None
    return None


def _fixture(path: Path, file: str, doc: LineDict, problems: list[SeedError], problem: Any
             ) -> Fixture | None:
    lines = dict(doc.lines)
    for name in doc:
        if name not in TOP_LEVEL:
            hint = did_you_mean(str(name), TOP_LEVEL)
            problems.append(problem(f"unknown fixture field {name!r}{hint}", lines[name]))
    for name in ("table", "key", "rows"):
        if name not in doc:
            problems.append(problem(f"missing fixture field {name!r}", doc.line))
    table = doc.get("table")
    if "table" in doc and not (isinstance(table, str) and table):
        problems.append(problem("'table' must be a table name", lines["table"]))
    key = _names(doc.get("key"))
    if "key" in doc and key is None:
        problems.append(problem("'key' must be a field name or a list of distinct names",
                                lines["key"]))
    rows = doc.get("rows", [])
    if isinstance(rows, list):
        rows = split_rows(rows)
    if not isinstance(rows, Rows):
        problems.append(problem("'rows' must be a list of mappings", lines["rows"]))
        rows = split_rows([])
    references, broken = _references(doc.get("references"), lines.get("references"),
                                      problems, problem) if "references" in doc else ({}, set())
    defaults = doc.get("defaults")
    if not isinstance(defaults, LineDict):
        if "defaults" in doc:
            problems.append(problem("'defaults' must be a mapping of field: value",
                                    lines["defaults"]))
        defaults = LineDict()
        defaults.lines = {}
    owned, owned_where = _owned(doc.get("owned", False), lines.get("owned"), problems, problem)
    update = doc.get("update", True)
    if not isinstance(update, bool):
        problems.append(problem("'update' must be true or false", lines["update"]))
    values: list[dict[str, Any]] | None
    made: dict[int, Row] = {}
    if rows.columns is not None and not any(has_secret(v) for v in defaults.values()):
        values, positions = None, None
        columns: dict[str, list[Any]] | None = _merged(rows.columns, defaults)
    else:
        values, positions, made = _rows(rows, defaults, lines.get("rows"), key, problems,
                                        problem)
        columns = None
    if not isinstance(table, str) or not table or key is None:
        return None
    fixture = Fixture(path=path, file=file, table=table, key=key, row_values=values,
                      references=references, owned=owned, owned_where=owned_where,
                      update=update is not False, lines=lines, broken=broken, source=rows,
                      positions=positions, default_lines=defaults.lines, made=made,
                      columns=columns)
    for k in key:
        if k in defaults or (k in columns if columns is not None else all(
                k in v for v in fixture.values)):
            continue
        for row in fixture.rows:
            missing = [k for k in key if k not in row.values]
            if missing and missing[0] == k:  # the key as far as the row gives it
                known = {f: v for f, v in fixture.key_of(row).items() if f in row.values}
                problems.append(problem(f"row has no value for key field {k!r}", row.line,
                                        known or None))
    return fixture


def _merged(columns: dict[str, list[Any]], defaults: dict[str, Any]) -> dict[str, list[Any]]:
    """Columns with the defaults merged in, in the order ``{**defaults, **row}`` has."""
    if not defaults:
        return columns
    size = len(next(iter(columns.values())))
    merged = {k: columns[k] if k in columns else [v] * size for k, v in defaults.items()}
    merged.update((k, c) for k, c in columns.items() if k not in merged)
    return merged


def _rows(rows: Rows, defaults: LineDict, rows_line: int | None, key: tuple[str, ...] | None,
          problems: list[SeedError], problem: Any,
          ) -> tuple[list[dict[str, Any]], list[int] | None, dict[int, Row]]:
    """Each row's values with defaults merged in; the item of each (None: one per item); the
    rows made here. Only items that hold a ``!secret`` or a field name that is not a string
    (``rows.special``) are looked at value by value."""
    if any(has_secret(v) for v in defaults.values()):
        special: set[int] | range = range(len(rows.items))
    else:
        special = rows.special
    if not special:
        return [{**defaults, **item} for item in rows.items] if defaults else rows.items, None, {}
    values: list[dict[str, Any]] = []
    positions: list[int] = []
    made: dict[int, Row] = {}
    for i, item in enumerate(rows.items):
        if i in special:
            if not isinstance(item, dict):
                problems.append(problem(
                    f"a row must be a mapping of field: value, got {item!r}",
                    rows.lines[i] or rows_line))
                continue
            row = Row({**defaults, **item}, rows.lines[i],
                      row_lines(item, rows.key_lines[i], defaults.lines))
            unset = _resolve_secrets(row)
            odd = [k for k in row.values if not isinstance(k, str)]
            for k in odd:
                problems.append(problem(f"field names are strings, got {k!r}", row.line_of(k),
                                        _key(key, row)))
                del row.values[k]
            for name, env in unset.items():
                problems.append(problem(
                    f"environment variable {env} is not set (field {name!r} is !secret)",
                    row.line_of(name), _key(key, row)))
            made[len(values)] = row
            values.append(row.values)
        else:
            values.append({**defaults, **item} if defaults else item)
        positions.append(i)
    return values, positions, made


def _resolve_secrets(row: Row) -> dict[str, str]:
    """Replace each :class:`Secret` by its environment value and set ``row.secret_fields``;
    the fields holding a required secret whose variable is unset, with that variable."""
    values = row.values
    fields: set[str] = set()
    unset: dict[str, str] = {}
    for name in list(values):
        found: list[Secret] = []
        values[name] = _with_secrets(values[name], found)
        for secret in found:
            fields.add(name)
            if secret.env in os.environ:
                continue
            if secret.optional and values[name] is secret:
                del values[name]  # left out: the column keeps its default or current value
            else:
                unset.setdefault(name, secret.env)
    row.secret_fields = frozenset(fields)
    return unset


def _key(key: tuple[str, ...] | None, row: Row) -> dict[str, Any] | None:
    """A row's natural key for a message (secrets masked), before its fixture exists."""
    if key is None:
        return None
    known = {k: "***" if k in row.secret_fields else row.values[k]
             for k in key if k in row.values}
    return known or None


def _with_secrets(value: Any, found: list[Secret]) -> Any:
    """``value`` with each ``!secret`` filled in from the environment (and listed in ``found``)."""
    if isinstance(value, Secret):
        found.append(value)
        value.value = os.environ.get(value.env)
        return value
    if isinstance(value, dict):
        return {k: _with_secrets(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_secrets(v, found) for v in value]
    return value


def _references(spec: Any, line: int | None, problems: list[SeedError], problem: Any
                ) -> tuple[dict[str, Reference], set[str]]:
    refs: dict[str, Reference] = {}
    broken: set[str] = set()
    if not isinstance(spec, LineDict):
        problems.append(problem("'references' must map a field to 'table.column' or to "
                                "{table, key, where, column}", line))
        return refs, broken
    for name, target in spec.items():
        at = spec.lines[name]
        if isinstance(target, str) and "." in target.strip("."):
            table, column = target.rsplit(".", 1)
            refs[name] = Reference(name, table, (column,), {}, None, at)
            continue
        if isinstance(target, LineDict) and "table" in target and "key" in target:
            unknown = set(target) - {"table", "key", "where", "column"}
            key, where = _names(target["key"]), target.get("where", {})
            ref_column = target.get("column")
            if (not unknown and isinstance(target["table"], str) and key is not None
                    and isinstance(where, dict)
                    and (ref_column is None or isinstance(ref_column, str))):
                refs[name] = Reference(name, target["table"], key, dict(where), ref_column, at)
                continue
        broken.add(name)
        problems.append(problem(
            f"reference {name!r} must be 'table.column' or {{table, key, where, column}}", at))
    return refs, broken


def _owned(spec: Any, line: int | None, problems: list[SeedError], problem: Any
           ) -> tuple[bool, dict[str, Any]]:
    if isinstance(spec, bool):
        return spec, {}
    if isinstance(spec, dict) and set(spec) == {"where"} and isinstance(spec["where"], dict):
        return True, dict(spec["where"])
    problems.append(problem("'owned' must be true, false or {where: {field: value}}", line))
    return False, {}
