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
target's ``password_file``; the targets that ``sql:``, ``databases:`` and ``schemas:`` find on
the catalog's server use the catalog connection's. A listing is checked whole: every problem of
every line is reported at once, and no message about a line shows its user name or password,
or any part of them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from ..dsn import Dsn, redact
from ..errors import BadListing, ConfigError, MigError


@dataclass(frozen=True)
class Target:
    """One database, or one schema inside a database, that a fleet run migrates."""

    name: str
    dsn: Dsn = field(repr=False)
    schema: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    password_file: Path | None = None
    listed_at: str = ""  # where the listing names it: file and line, or query row

    @property
    def where(self) -> str:
        """The target as shown: its URL without password, and its schema."""
        return self.dsn.masked + (f" schema {self.schema}" if self.schema else "")

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """The target as written (host, port, database, schema): two equal ones are listed
        twice. Other spellings of one database (a host alias, the default port given or not)
        differ here; the server tells them apart when a fleet run starts
        (:func:`mig.engine.lock.tracking_place`)."""
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

    :param catalog: the database that ``sql:``, ``databases:`` and ``schemas:`` read from;
        the targets on its server are given its password.
    :raises BadListing: the source cannot be read, or targets are malformed, have a password in
        their URL, or are listed twice; every problem is named with where it is.
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


# (where in the source, the target's fields, or the problem of that entry)
Row = tuple[str, "dict | BadListing"]

_COMMENT = re.compile(r"(?:^|\s)#")  # a '#' at a line's start or after a space
_KEYS_HINT = "keys: name, schema, password_file, label.KEY"


def _problem(where: str, message: str, text: str = "", *, hint: str | None = None
             ) -> BadListing:
    """The problem of one entry: ``where: message``, with any credential of ``text`` (the
    entry as written) masked in it."""
    return BadListing(f"{where}: {_masked(message, text)}", where=where, hint=hint)


def _credentials(text: str) -> str | None:
    """What may be a user name and password in a URL as written (``user:password`` of
    ``postgresql://user:password@host/db``): from ``://`` to the last ``@`` before the first
    ``/``, whatever it holds (a ``#``, spaces, an unencoded ``%`` or ``:``). None without."""
    _, scheme, rest = text.partition("://")
    authority = rest.split("/", 1)[0]
    if not scheme or "@" not in authority:
        return None
    return authority.rpartition("@")[0]


def _masked(message: str, text: str) -> str:
    """``message`` with the credential part of ``text`` masked: the whole part, and each
    piece of it that a parser may have split off (at a ``:``, a space or a ``#``), as written
    and percent-decoded. The part is taken up to the last ``@`` of ``text``: more than the
    credentials when a later ``@`` is not theirs, never less."""
    _, scheme, rest = text.partition("://")
    part = rest.rpartition("@")[0] if scheme else ""
    if not part:
        return message
    pieces = {part, *(p for p in re.split(r"[:\s#/]+", part) if len(p) >= 3)}
    return redact(message, *sorted({*pieces, *map(unquote, pieces)}, key=len, reverse=True))


def _password_in(text: str) -> bool:
    """Whether a URL or libpq string as written holds a password (before any parsing, so that
    a parser's misreading of an unencoded one cannot show part of it)."""
    credentials = _credentials(text)
    if credentials is not None:
        return ":" in credentials
    return re.search(r"(?:^|\s)password\s*=", text) is not None


_PASSWORD = ("this target's URL holds a password; a fleet listing must not",
             "remove it and let libpq find it: ~/.pgpass, PGPASSWORD, "
             "MIG_DATABASE_PASSWORD_FILE, or the target's password_file")


def _from_text(path: Path) -> Iterator[Row]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path}:{number}"
        kept = _COMMENT.split(line, maxsplit=1)[0]
        words = kept.split()
        if not words:
            continue
        # a URL's credentials are read from the whole line (a '#' or a space may have cut the
        # password), a password=... parameter from what is not a comment
        if _password_in(line if _credentials(line) is not None else kept):
            yield where, _problem(where, _PASSWORD[0], hint=_PASSWORD[1])
            continue
        fields: dict = {"url": words[0], "labels": {}, "text": line}
        problems = []
        for word in words[1:]:
            key, eq, value = word.partition("=")
            if not eq or not value:
                problems.append(_problem(where, f"expected KEY=VALUE after the URL, got "
                                         f"{word!r} ({_KEYS_HINT})", line))
            elif key.startswith("label."):
                fields["labels"][key[6:]] = value
            elif key in ("name", "schema", "password_file"):
                fields[key] = value
            else:
                problems.append(_problem(where, f"unknown key {key!r} ({_KEYS_HINT})", line))
        yield from ((where, p) for p in problems) if problems else [(where, fields)]


def _from_yaml(path: Path) -> Iterator[Row]:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        nodes = yaml.compose(text, Loader=yaml.SafeLoader)  # for the line of each target
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        message = f"not valid YAML: {getattr(exc, 'problem', None) or exc}"
        for written in text.splitlines():  # the parser may quote any of them
            message = _masked(message, written)
        raise BadListing(f"{path}{line}: {message}", where=f"{path}{line}") from None
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
            yield where, _problem(where, "a target must be a mapping with url (and optionally "
                                  "name, schema, labels, password_file)")
            continue
        url = str(value["url"])
        if _password_in(url):
            yield where, _problem(where, _PASSWORD[0], hint=_PASSWORD[1])
            continue
        unknown = set(value) - {"url", "name", "schema", "labels", "password_file"}
        labels = value.get("labels") or {}
        if unknown:
            yield where, _problem(where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}"
                                  " (keys: url, name, schema, labels, password_file)", url)
        elif not isinstance(labels, dict):
            yield where, _problem(where, "labels must be a mapping of names to values")
        else:
            value["labels"] = {str(k): str(v) for k, v in labels.items()}
            yield where, {**value, "text": url}


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
                where = f"--fleet {kind}: row {number}"
                fields = dict(zip(columns, row))
                if fields.get("url") is None:
                    # a database of the catalog's server: reached as the catalog is, with the
                    # catalog connection's password too
                    changes = {"dbname": fields.get("dbname")} if fields.get("dbname") else {}
                    fields["url"] = catalog.with_params(**changes)
                elif _password_in(str(fields["url"])):
                    yield where, _problem(where, _PASSWORD[0], hint=_PASSWORD[1])
                    continue
                else:
                    fields["text"] = str(fields["url"])
                yield where, fields
    finally:
        conn.close()


def _checked(rows: Iterable[Row], source: str) -> list[Target]:
    targets: list[Target] = []
    problems: list[BadListing] = []
    by_name: dict[str, str] = {}
    by_identity: dict[tuple, str] = {}
    for where, fields in rows:
        if isinstance(fields, BadListing):
            problems.append(fields)
            continue
        url = fields["url"]
        text = fields.get("text", "")
        if isinstance(url, Dsn):
            dsn = url  # built from the catalog's connection: its password is the catalog's
        else:
            try:
                dsn = Dsn.parse(str(url))
            except MigError as exc:
                problems.append(_problem(where, exc.message, text, hint=exc.hint))
                continue
            if dsn.password is not None:  # a form _password_in does not read (a parameter)
                problems.append(_problem(where, _PASSWORD[0], hint=_PASSWORD[1]))
                continue
        schema = fields.get("schema")
        schema = str(schema) if schema is not None else None
        name = str(fields.get("name") or _default_name(dsn, schema))
        password_file = fields.get("password_file")
        target = Target(name, dsn, schema, tuple(sorted((fields.get("labels") or {}).items())),
                        Path(password_file).expanduser() if password_file else None,
                        listed_at=where)
        if name in by_name:
            problems.append(_problem(where, f"the target name {name!r} is also used at "
                                     f"{by_name[name]}", hint="give each target a name of its own"))
            continue
        if target.identity in by_identity:
            problems.append(_problem(where, f"{target.where} is listed again (first at "
                                     f"{by_identity[target.identity]})",
                                     hint="list each database or schema once"))
            continue
        by_name[name] = by_identity[target.identity] = where
        targets.append(target)
    if problems:
        raise BadListing.of(source, problems)
    if not targets:
        pattern = source.startswith(("--fleet databases:", "--fleet schemas:"))
        raise ConfigError(f"{source}: lists no targets", hint="the pattern is matched with LIKE"
                          " ('%' any text, '_' one character)" if pattern else None)
    return targets


def _default_name(dsn: Dsn, schema: str | None) -> str:
    name = dsn.dbname or dsn.get("host") or "default"
    return f"{name}.{schema}" if schema else name
