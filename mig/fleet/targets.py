"""Which databases (or schemas) a fleet run covers: the sources, their parsing, and shards.

A fleet source is one of:

- a file: one target per line (``URL`` optionally followed by ``schema=NAME``, ``name=NAME``
  and ``label.KEY=VALUE``) or, for ``.yaml``/``.yml``, a list of mappings with ``url``, and
  optionally ``name``, ``schema``, ``labels`` and ``password_file``;
- ``sql:QUERY``: a query run on the catalog database (``--database``) whose rows give each
  target in columns named ``url`` or ``dbname`` (a database on the catalog's server), and
  optionally ``schema`` and ``name``;
- ``databases:PATTERN``: the databases of the catalog's server whose names match the SQL
  ``LIKE`` pattern (templates excluded);
- ``schemas:PATTERN``: the schemas of the catalog database whose names match the pattern.

Passwords never appear in a listing: a target URL with a password is refused (without being
shown). They come from ``.pgpass``, ``PGPASSWORD``, ``MIG_DATABASE_PASSWORD_FILE`` or a
target's ``password_file``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..dsn import Dsn
from ..errors import ConfigError, MigError


@dataclass(frozen=True)
class Target:
    """One database, or one schema inside a database, that a fleet run migrates."""

    name: str
    dsn: Dsn = field(repr=False)
    schema: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    password_file: Path | None = None

    @property
    def where(self) -> str:
        """The target as shown: its URL without password, and its schema."""
        return self.dsn.masked + (f" schema {self.schema}" if self.schema else "")

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What makes two targets the same database (or schema), whatever their names."""
        return (self.dsn.get("host") or "", self.dsn.get("port") or "",
                self.dsn.dbname or "", self.schema or "")


def shard(targets: list[Target], index: int, count: int) -> list[Target]:
    """The share of worker ``index`` (0-based) of ``count``: by a hash of each target's name,
    so adding or removing a target never moves the others to another worker."""
    return [t for t in targets if _bucket(t.name, count) == index]


def _bucket(name: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % count


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` -> (I, N), with 0 <= I < N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise ConfigError(f"--shard {text!r}: expected I/N with 0 <= I < N (e.g. 0/4; the index"
                          " is 0-based, like a Kubernetes indexed Job's JOB_COMPLETION_INDEX)")
    return int(match.group(1)), int(match.group(2))


# -- sources ---------------------------------------------------------------------------------
def load(source: str, catalog: Dsn | None) -> list[Target]:
    """The targets of ``source`` (see the module's documentation), checked.

    :param catalog: the database that ``sql:``, ``databases:`` and ``schemas:`` read from.
    :raises ConfigError: the source cannot be read, or a target is malformed, has a password in
        its URL, or is listed twice; the message says where.
    """
    kind, _, rest = source.partition(":")
    if kind in ("sql", "databases", "schemas") and rest:
        if catalog is None:
            raise ConfigError(f"--fleet {kind}:... reads the catalog database: give it with "
                              "--database (or MIG_DATABASE_URL)")
        rows = list(_from_catalog(kind, rest, catalog))
        where = f"--fleet {source}"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"--fleet {source}: no such file",
                              hint="give a file, sql:QUERY, databases:PATTERN or "
                              "schemas:PATTERN")
        rows = list(_from_yaml(path) if path.suffix in (".yaml", ".yml") else _from_text(path))
        where = str(path)
    return _checked(rows, where)


Row = tuple[str, dict]  # (where in the source, fields)


def _from_text(path: Path) -> Iterator[Row]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if not words:
            continue
        fields: dict = {"url": words[0], "labels": {}}
        for word in words[1:]:
            key, eq, value = word.partition("=")
            if not eq or not value:
                raise ConfigError(f"{path}:{number}: expected KEY=VALUE after the URL, got "
                                  f"{word!r} (keys: name, schema, password_file, label.KEY)")
            if key.startswith("label."):
                fields["labels"][key[6:]] = value
            elif key in ("name", "schema", "password_file"):
                fields[key] = value
            else:
                raise ConfigError(f"{path}:{number}: unknown key {key!r} (keys: name, schema,"
                                  " password_file, label.KEY)")
        yield f"{path}:{number}", fields


def _from_yaml(path: Path) -> Iterator[Row]:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        nodes = yaml.compose(text, Loader=yaml.SafeLoader)  # for the line of each target
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    if isinstance(data, dict) and isinstance(nodes, yaml.MappingNode):
        # {targets: [...]} as well as a bare list
        nodes = next((v for k, v in nodes.value if k.value == "targets"), None)
        data = data.get("targets")
    if not isinstance(data, list) or not isinstance(nodes, yaml.SequenceNode):
        raise ConfigError(f"{path}: expected a list of targets (or 'targets:' holding one),"
                          " each with url and optionally name, schema, labels, password_file")
    for value, node in zip(data, nodes.value):
        where = f"{path}:{node.start_mark.line + 1}"
        if not isinstance(value, dict) or "url" not in value:
            raise ConfigError(f"{where}: a target must be a mapping with url (and optionally "
                              "name, schema, labels, password_file)")
        unknown = set(value) - {"url", "name", "schema", "labels", "password_file"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}"
                              " (keys: url, name, schema, labels, password_file)")
        labels = value.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError(f"{where}: labels must be a mapping of names to values")
        value["labels"] = {str(k): str(v) for k, v in labels.items()}
        yield where, value


def _from_catalog(kind: str, text: str, catalog: Dsn) -> Iterator[Row]:
    import psycopg2

    from ..engine.connect import connect

    conn = connect(catalog, verb="fleet targets")
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            if kind == "databases":
                cur.execute("SELECT datname AS dbname FROM pg_database WHERE NOT datistemplate"
                            " AND datallowconn AND datname LIKE %s ORDER BY datname", (text,))
            elif kind == "schemas":
                cur.execute("SELECT nspname AS schema FROM pg_namespace WHERE nspname LIKE %s"
                            " AND nspname NOT LIKE 'pg\\_%%' AND nspname <> 'information_schema'"
                            " ORDER BY nspname", (text,))
            else:
                try:
                    cur.execute(text)
                except psycopg2.Error as exc:
                    raise ConfigError(f"--fleet sql: the query failed on {catalog.masked}: "
                                      f"{' '.join(str(exc).split())}") from None
            if cur.description is None:
                raise ConfigError("--fleet sql: the statement returned no rows to read targets "
                                  "from (it must be a query)")
            columns = [c.name for c in cur.description]
            if not {"url", "dbname", "schema"} & set(columns):
                raise ConfigError(f"--fleet sql: the query's columns are {', '.join(columns)};"
                                  " it must return url or dbname (and may return schema, name)")
            for number, row in enumerate(cur, 1):
                fields = dict(zip(columns, row))
                if fields.get("url") is None:
                    changes = {"dbname": fields.get("dbname")} if fields.get("dbname") else {}
                    fields["url"] = catalog.with_params(password=None, **changes)
                yield f"--fleet {kind}: row {number}", fields
    finally:
        conn.close()


def _checked(rows: Iterable[Row], source: str) -> list[Target]:
    targets: list[Target] = []
    by_name: dict[str, str] = {}
    by_identity: dict[tuple, str] = {}
    for where, fields in rows:
        url = fields["url"]
        if isinstance(url, Dsn):
            dsn = url
        else:
            try:
                dsn = Dsn.parse(str(url))
            except MigError as exc:
                raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
            if dsn.password is not None:
                raise ConfigError(
                    f"{where}: this target's URL holds a password; a fleet listing must not",
                    hint="remove it and let libpq find it: ~/.pgpass, PGPASSWORD, "
                    "MIG_DATABASE_PASSWORD_FILE, or the target's password_file")
        schema = fields.get("schema")
        schema = str(schema) if schema is not None else None
        name = str(fields.get("name") or _default_name(dsn, schema))
        password_file = fields.get("password_file")
        target = Target(name, dsn, schema, tuple(sorted((fields.get("labels") or {}).items())),
                        Path(password_file).expanduser() if password_file else None)
        if name in by_name:
            raise ConfigError(f"{where}: the target name {name!r} is also used at "
                              f"{by_name[name]}", hint="give each target a name of its own")
        if target.identity in by_identity:
            raise ConfigError(f"{where}: {target.where} is listed again (first at "
                              f"{by_identity[target.identity]})",
                              hint="list each database or schema once")
        by_name[name] = by_identity[target.identity] = where
        targets.append(target)
    if not targets:
        pattern = source.startswith(("--fleet databases:", "--fleet schemas:"))
        raise ConfigError(f"{source}: lists no targets", hint="the pattern is matched with LIKE"
                          " ('%' any text, '_' one character)" if pattern else None)
    return targets


def _default_name(dsn: Dsn, schema: str | None) -> str:
    name = dsn.dbname or dsn.get("host") or "default"
    return f"{name}.{schema}" if schema else name
