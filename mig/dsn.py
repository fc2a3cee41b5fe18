"""Connection strings: the forms mig accepts, and how they are shown without the password.

Accepted: ``postgresql://`` and ``postgres://`` URLs, SQLAlchemy-style ``postgresql+psycopg2://``
URLs, and libpq keyword strings (``host=db dbname=app user=mig``). Whatever libpq reads by
itself (``PGHOST``, ``PGPASSWORD``, ``.pgpass``, ``PGSSLMODE`` ...) keeps working because the
string goes to libpq unchanged apart from the SQLAlchemy driver suffix.

A URL's user name and password must be percent-encoded: libpq ends them at the first ``@`` or
``/``, and would read the rest of an unencoded password as the host, port or database. Such a
URL is refused (without showing it) rather than connecting somewhere else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from psycopg2.extensions import make_dsn, parse_dsn

from .errors import ConfigError

_URL_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_ACCEPTED_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg2", "postgres+psycopg2"}
MASK = "***"
# Parameters whose values are secrets: never shown, and masked wherever they appear in a message.
SECRET_PARAMS = ("password", "sslpassword")


def _strip_driver(dsn: str) -> str:
    match = _URL_SCHEME.match(dsn)
    if not match:
        return dsn
    scheme = match.group("scheme").lower()
    if scheme not in _ACCEPTED_SCHEMES:
        raise ConfigError(
            f"unsupported database URL scheme {scheme!r}",
            hint="use postgresql://user@host:port/dbname (postgres:// and "
            "postgresql+psycopg2:// work too) or a libpq string like 'host=db dbname=app'",
        )
    return "postgresql://" + dsn[match.end() :]


@dataclass(frozen=True)
class Dsn:
    """A parsed connection string. ``str()`` and ``repr()`` never show the password."""

    raw: str = field(repr=False)
    params: tuple[tuple[str, str], ...] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> Dsn:
        """Parse a URL or libpq string; a bad one is a :class:`ConfigError` that hides the
        password."""
        text = text.strip()
        if not text:
            raise ConfigError("the database setting is empty")
        libpq = _strip_driver(text)
        _check_userinfo(libpq)
        try:
            params = parse_dsn(libpq)
        except Exception as exc:  # psycopg2.ProgrammingError; its message may echo the input
            detail = redact(str(exc).strip().splitlines()[0], *_guesses(text))
            raise ConfigError(
                f"malformed database URL or connection string: {detail}",
                hint="expected postgresql://user:password@host:5432/dbname "
                "or a libpq string like 'host=db port=5432 dbname=app user=mig'",
            ) from None
        port = params.get("port", "")
        if any(part.strip() and not part.strip().isdigit() for part in port.split(",")):
            raise ConfigError(
                f"the port {port!r} of the database URL or connection string is not a number",
                hint="write it as host:5432 in a URL, or port=5432 in a libpq string")
        return cls(raw=libpq, params=tuple(sorted(params.items())))

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of libpq parameter ``key``."""
        return dict(self.params).get(key, default)

    @property
    def password(self) -> str | None:
        """The password, if the string gives one (never shown)."""
        return self.get("password")

    @property
    def dbname(self) -> str | None:
        """The database name, if the string gives one."""
        return self.get("dbname")

    database = dbname  # the attribute name yoyo's backends read

    def with_params(self, **changes: str | None) -> Dsn:
        """A copy with some parameters replaced (``None`` removes one)."""
        params = dict(self.params)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return Dsn(raw=make_dsn(**dict(sorted(params.items()))),
                   params=tuple(sorted(params.items())))

    def _url(self, *, masked: bool) -> str:
        params = dict(self.params)
        user = params.pop("user", "")
        password = params.pop("password", None)
        host = params.pop("host", "")
        port = params.pop("port", "")
        dbname = params.pop("dbname", "")
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + (MASK if masked else quote(password, safe=""))
        netloc = auth + "@" if auth else ""
        first = []
        if "/" in host:
            # A socket folder goes into the query (postgresql://user@/db?host=/run/pg&port=5432),
            # which libpq, psycopg2 and yoyo all read: yoyo cannot open a %2F-encoded host.
            first = [f"host={quote(host, safe='/')}"] + ([f"port={port}"] if port else [])
        else:
            netloc += host + (f":{port}" if port else "")
        shown = {k: MASK if masked and k in SECRET_PARAMS else v for k, v in params.items()}
        query = "&".join(first + [f"{k}={v if masked else quote(v, safe='')}"
                                  for k, v in sorted(shown.items())])
        return f"postgresql://{netloc}/{quote(dbname, safe='')}" + (f"?{query}" if query else "")

    @property
    def url(self) -> str:
        """The settings as a URL, the password included: to connect with, never to show."""
        return self._url(masked=False)

    @property
    def masked(self) -> str:
        """The settings as a URL with the password replaced by ``***``."""
        return self._url(masked=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values of this DSN (password, sslpassword), to mask in messages."""
        return tuple(v for v in (self.get(k) for k in SECRET_PARAMS) if v)

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of this DSN's secrets masked."""
        return redact(text, *self.secrets)

    def __str__(self) -> str:
        return self.masked


@dataclass(frozen=True)
class Endpoint:
    """One server a connection string names, as libpq reaches it: ``host`` (a name, an IP
    address or a Unix-socket folder) and ``hostaddr`` (an IP address), either may be empty."""

    host: str
    hostaddr: str

    @property
    def address(self) -> str:
        """Where libpq connects: ``hostaddr`` when given (the host name then only names the
        server for TLS and ``.pgpass``), else ``host``; empty for libpq's default socket."""
        return self.hostaddr or self.host

    @property
    def is_socket(self) -> bool:
        """Whether libpq connects through a Unix socket (a folder, an abstract ``@name``, or
        nothing given: its default socket)."""
        return not self.address or self.address.startswith(("/", "@"))

    @property
    def is_local(self) -> bool:
        """Whether the address libpq connects to is on this machine: a Unix socket,
        ``localhost`` (or a ``.localhost`` name) or a loopback address. A name is judged as
        written: nothing is looked up."""
        address = self.address.lower()
        if self.is_socket or address == "localhost" or address.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(address.strip("[]")).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        if self.hostaddr and self.host and self.host != self.hostaddr:
            return f"{self.host} (hostaddr {self.hostaddr})"
        return self.address or "the default Unix socket"


def _entries(value: str | None) -> list[str]:
    return [part.strip() for part in value.split(",")] if value else []


def endpoints(dsn: Dsn, env: Mapping[str, str]) -> tuple[Endpoint, ...]:
    """The servers ``dsn`` names, in libpq's order, each with the address it is reached at.

    As libpq reads them: ``host`` and ``hostaddr`` (else ``PGHOST`` and ``PGHOSTADDR``) are
    lists whose n-th entries belong together, an empty ``hostaddr`` entry leaves that host to
    its name, and with neither given libpq uses its default Unix socket.
    """
    hosts = _entries(dsn.get("host") if dsn.get("host") is not None else env.get("PGHOST"))
    addrs = _entries(dsn.get("hostaddr") if dsn.get("hostaddr") is not None
                     else env.get("PGHOSTADDR"))
    if len(addrs) == 1 and len(hosts) > 1:
        addrs = addrs * len(hosts)  # one address for every name (libpq refuses a mismatch)
    count = max(len(hosts), len(addrs), 1)
    hosts += [""] * (count - len(hosts))
    addrs += [""] * (count - len(addrs))
    return tuple(Endpoint(host, addr) for host, addr in zip(hosts, addrs))


def _userinfo(text: str) -> str | None:
    """The ``user:password`` of a URL as its writer meant it: up to the last ``@`` before the
    query. (libpq stops at the first ``@`` or ``/``, which differs when they are not encoded.)"""
    _, scheme, rest = text.partition("://")
    userinfo, at, _ = rest.split("?", 1)[0].rpartition("@")
    return userinfo if scheme and at else None


def _check_userinfo(url: str) -> None:
    """Refuse a URL whose password (or user name) libpq would misread: one that holds a raw
    ``@`` or ``/``. The message names the problem, never the value."""
    userinfo = _userinfo(url) if _URL_SCHEME.match(url) else None
    user, _, password = (userinfo or "").partition(":")
    if re.search("[@/]", password):
        part = "password"
    elif "@" in user:  # a '/' alone may be a database name's '@' (postgresql://h/a@b)
        part = "user name"
    else:
        return
    raise ConfigError(
        f"the {part} in the database URL contains '@' or '/' that is not percent-encoded: "
        f"libpq would read part of the {part} as the host, port or database name",
        hint="percent-encode the user name and password in a URL ('@' is %40, '/' is %2F, "
        "'%' is %25; in Python: urllib.parse.quote(password, safe='')), or give the password "
        "another way: MIG_DATABASE_PASSWORD_FILE, PGPASSWORD or ~/.pgpass",
    )


def _guess_password(text: str) -> str | None:
    """Best-effort password of an unparseable string, so an error about it can hide it."""
    match = re.search(r"://[^:/@]*:([^@]*)@", text) or re.search(r"password\s*=\s*(\S+)", text)
    return match.group(1) if match else None


def _guesses(text: str) -> list[str]:
    """The password of a URL as libpq reads it and as its writer meant it (an unencoded ``@``
    or ``/`` makes them differ), as written and percent-decoded; or a libpq string's."""
    userinfo = _userinfo(text)
    found: list[str] = []
    for guess in (userinfo.partition(":")[2] if userinfo else None, _guess_password(text)):
        if guess:
            found += [guess, unquote(guess)]
    return found


def guess_secrets(text: str) -> tuple[str, ...]:
    """Best-effort secrets in ``text``, which may be a connection string, a broken one or
    anything else (a command-line word): to mask in messages about it before it is parsed.

    A string that parses gives its secrets as well (a quoted ``password='...'``).
    """
    found = _guesses(text)
    if "=" in text or "://" in text:
        with contextlib.suppress(ConfigError):
            found += Dsn.parse(text).secrets
    # longest first, so that a password is masked whole before a part of it is
    return tuple(sorted(set(found), key=len, reverse=True))


# A password where a connection string holds one: a URL's userinfo (``//user:PASSWORD@``) and a
# ``password=`` / ``sslpassword=`` keyword (libpq strings, URL queries, ``PGPASSWORD=``), quoted
# or not. Masked whatever its value, so even a password mig was never told is hidden.
_URL_PASSWORD = re.compile(r"(?P<lead>://[^:/@\s?#]*:)(?P<secret>[^@\s]+)(?=@)")
_KEYWORD_PASSWORD = re.compile(
    r"(?P<lead>(?<![A-Za-z0-9_])(?:PG)?(?:ssl)?password\s*=\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*'?|[^\s&'\"]+)", re.IGNORECASE)
# A password shorter than this is masked only where it stands as a credential: a literal search
# for "x" or "1" would mask every x and 1 of the message.
MIN_LITERAL = 5


def _literal(secret: str) -> re.Pattern[str]:
    """``secret`` as a whole word: not the start or end of a longer run of letters and digits
    (the password ``postgres`` is not in ``postgresql://``)."""
    before = r"(?<![A-Za-z0-9])" if secret[0].isalnum() else ""
    after = r"(?![A-Za-z0-9])" if secret[-1].isalnum() else ""
    return re.compile(before + re.escape(secret) + after)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with its passwords replaced by ``***``.

    Each of ``secrets`` long enough to be told from ordinary words (:data:`MIN_LITERAL`
    characters), as given and percent-encoded, wherever it appears as a whole word; and every
    credential, known or not, where it stands as one (a URL's ``user:PASSWORD@``,
    ``password=...``). A shorter secret is never searched for on its own: that would garble
    the message.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_LITERAL}, key=len,
                         reverse=True):
        for form in dict.fromkeys((secret, quote(secret, safe=""))):
            text = _literal(form).sub(MASK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group("lead") + MASK, text)
    return _KEYWORD_PASSWORD.sub(lambda m: m.group("lead") + MASK, text)
