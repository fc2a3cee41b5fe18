"""What is on disk: seed fixture files, read with their line numbers and checked for shape.

Nothing here talks to a database. A fixture that is well-formed YAML of the right shape becomes
a :class:`Fixture`; everything else becomes a :class:`~mig.errors.SeedError` naming file and line,
and reading goes on so that every problem of every file is reported at once.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import SeedError

BASE_ENV = "base"
SUFFIXES = (".yaml", ".yml")
TOP_LEVEL = ("table", "key", "rows", "references", "defaults", "owned", "update")


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


@dataclass(frozen=True)
class Reference:
    """A field whose row value is another seeded row's natural key, e.g. ``role: owner``."""

    name: str  # the field as rows spell it
    table: str  # the referenced table
    key: tuple[str, ...]  # its columns that the value matches
    where: dict[str, Any]  # fixed conditions on the referenced row
    column: str | None  # the column of this table that is filled; None: from the foreign key
    line: int


@dataclass
class Row:
    values: dict[str, Any]  # field (a column or a reference name) -> value, defaults merged in
    line: int
    lines: dict[str, int]  # field -> line of its value
    secret_fields: frozenset[str] = frozenset()


@dataclass
class Fixture:
    path: Path
    file: str  # as shown in messages
    table: str
    key: tuple[str, ...]
    rows: list[Row]
    references: dict[str, Reference] = field(default_factory=dict)
    owned: bool = False
    owned_where: dict[str, Any] = field(default_factory=dict)
    update: bool = True
    lines: dict[str, int] = field(default_factory=dict)  # top-level field -> line
    # Reference fields whose declaration is unusable: rows are not checked against them.
    broken: set[str] = field(default_factory=set)

    def key_of(self, row: Row) -> dict[str, Any]:
        """The row's natural key, secrets masked, for messages and reports."""
        return {k: ("***" if k in row.secret_fields else row.values.get(k)) for k in self.key}


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
    seeds_dir: str | os.PathLike[str], env: str | None = None
) -> tuple[list[Fixture], list[SeedError]]:
    """Every fixture of ``base/`` (and ``<env>/``) and every problem found while reading them."""
    fixtures: list[Fixture] = []
    problems: list[SeedError] = []
    for path in fixture_paths(seeds_dir, env):
        fixture, found = read_fixture(path)
        problems += found
        if fixture is not None:
            fixtures.append(fixture)
    return fixtures, problems


# --- YAML with line numbers -------------------------------------------------------------------


class _LineDict(dict[Any, Any]):
    line = 0
    lines: dict[Any, int]


# libyaml's parser where PyYAML was built with it: five times faster on large fixtures.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = _LineDict()
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
    if isinstance(node, yaml.ScalarNode):
        return Secret(str(loader.construct_scalar(node)))
    spec = loader.construct_mapping(node, deep=True) if isinstance(node, yaml.MappingNode) else {}
    env = spec.get("env")
    if not isinstance(env, str) or set(spec) - {"env", "optional"}:
        raise yaml.constructor.ConstructorError(
            None, None, "!secret takes a variable name or {env: NAME, optional: true}",
            node.start_mark,
        )
    return Secret(env, optional=bool(spec.get("optional", False)))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("!secret", _construct_secret)


def read_fixture(path: Path) -> tuple[Fixture | None, list[SeedError]]:
    """One fixture file: the fixture (None when unusable) and its problems."""
    file = display_path(path)

    def problem(message: str, line: int | None, key: dict[str, Any] | None = None) -> SeedError:
        return SeedError(message, file=file, line=line, key=key)

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [problem(f"cannot read the file: {exc}", None)]
    loader = _Loader(text)
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return None, [problem(f"invalid YAML: {what}", mark.line + 1 if mark else None)]
    except yaml.YAMLError as exc:
        return None, [problem(f"invalid YAML: {exc}", None)]
    finally:
        loader.dispose()
    problems = [problem(f"duplicate field {name!r}", line) for line, name in loader.duplicates]
    if not isinstance(doc, _LineDict):
        got = "an empty file" if doc is None else type(doc).__name__
        return None, [problem(f"a fixture is a mapping with table, key and rows; got {got}", 1)]
    fixture = _fixture(path, file, doc, problems, problem)
    return fixture, problems


def _suggest(name: str, known: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _names(value: Any) -> tuple[str, ...] | None:
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list) and names and all(isinstance(n, str) and n for n in names):
        return tuple(names) if len(set(names)) == len(names) else None
    return None


def _fixture(path: Path, file: str, doc: _LineDict, problems: list[SeedError], problem: Any):
    lines = dict(doc.lines)
    for name in doc:
        if name not in TOP_LEVEL:
            hint = _suggest(str(name), TOP_LEVEL)
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
    if not isinstance(rows, list):
        problems.append(problem("'rows' must be a list of mappings", lines["rows"]))
        rows = []
    references, broken = _references(doc.get("references"), lines.get("references"),
                                      problems, problem) if "references" in doc else ({}, set())
    defaults = doc.get("defaults")
    if not isinstance(defaults, _LineDict):
        if "defaults" in doc:
            problems.append(problem("'defaults' must be a mapping of field: value",
                                    lines["defaults"]))
        defaults = _LineDict()
        defaults.lines = {}
    owned, owned_where = _owned(doc.get("owned", False), lines.get("owned"), problems, problem)
    update = doc.get("update", True)
    if not isinstance(update, bool):
        problems.append(problem("'update' must be true or false", lines["update"]))
    out_rows: list[Row] = []
    for item in rows:
        if not isinstance(item, _LineDict):
            line = getattr(item, "line", None) or lines.get("rows")
            problems.append(problem(f"a row must be a mapping of field: value, got {item!r}",
                                    line))
            continue
        values = {**defaults, **item}
        row_lines = {**{k: defaults.lines[k] for k in defaults}, **item.lines}
        secrets = _resolve_secrets(values, row_lines, problems, problem)
        bad = [k for k in values if not isinstance(k, str)]
        for k in bad:
            problems.append(problem(f"field names are strings, got {k!r}", row_lines[k]))
            del values[k]
        out_rows.append(Row(values, item.line, row_lines, frozenset(secrets)))
    if not isinstance(table, str) or not table or key is None:
        return None
    fixture = Fixture(path, file, table, key, out_rows, references, owned, owned_where,
                      update is not False, lines, broken)
    for row in out_rows:
        missing = [k for k in key if k not in row.values]
        if missing:
            problems.append(problem(f"row has no value for key field {missing[0]!r}", row.line,
                                    fixture.key_of(row)))
    return fixture


def _resolve_secrets(values: dict[str, Any], lines: dict[str, int], problems: list[SeedError],
                     problem: Any) -> set[str]:
    """Replace each :class:`Secret` by its environment value; the names of fields holding one."""
    fields: set[str] = set()
    for name in list(values):
        found: list[Secret] = []
        values[name] = _unwrap(values[name], found)
        for secret in found:
            fields.add(name)
            if secret.env in os.environ:
                continue
            if secret.optional and values[name] is secret:
                del values[name]  # left out: the column keeps its default or current value
            else:
                problems.append(problem(
                    f"environment variable {secret.env} is not set (field {name!r} is !secret)",
                    lines.get(name)))
    return fields


def _unwrap(value: Any, found: list[Secret]) -> Any:
    if isinstance(value, Secret):
        found.append(value)
        value.value = os.environ.get(value.env)
        return value
    if isinstance(value, dict):
        return {k: _unwrap(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, found) for v in value]
    return value


def plain(value: Any) -> Any:
    """The value with every :class:`Secret` replaced by what it stands for."""
    if isinstance(value, Secret):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _references(spec: Any, line: int | None, problems: list[SeedError], problem: Any):
    refs: dict[str, Reference] = {}
    broken: set[str] = set()
    if not isinstance(spec, _LineDict):
        problems.append(problem("'references' must map a field to 'table.column' or to "
                                "{table, key, where, column}", line))
        return refs, broken
    for name, target in spec.items():
        at = spec.lines[name]
        if isinstance(target, str) and "." in target.strip("."):
            table, column = target.rsplit(".", 1)
            refs[name] = Reference(name, table, (column,), {}, None, at)
            continue
        if isinstance(target, _LineDict) and "table" in target and "key" in target:
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


def _owned(spec: Any, line: int | None, problems: list[SeedError], problem: Any):
    if isinstance(spec, bool):
        return spec, {}
    if isinstance(spec, dict) and set(spec) == {"where"} and isinstance(spec["where"], dict):
        return True, dict(spec["where"])
    problems.append(problem("'owned' must be true, false or {where: {field: value}}", line))
    return False, {}
