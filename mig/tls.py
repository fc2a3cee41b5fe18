"""TLS: which settings reach libpq, and the production profile that requires a verified server.

mig's own TLS settings (``--sslmode``/``MIG_SSLMODE``/``sslmode`` in ``[mig]``, and the same for
``sslrootcert``, ``sslcert``, ``sslkey``) are written into the connection string, replacing what
the URL says. What neither sets, libpq takes from its own environment (``PGSSLMODE``,
``PGSSLROOTCERT``, ...) and then from its defaults (``sslmode=prefer``): mig reads those the same
way to know what libpq will do.

For a connection that is not local, the default is verified TLS whatever the profile. A
connection is local only when every address it uses is: a Unix socket, ``localhost`` or a
loopback address, where a ``hostaddr`` is the address (the host name beside it only names the
server), and with several hosts each one counts. Otherwise, with no ``sslmode`` anywhere
(mig's settings, the URL, ``PGSSLMODE``), mig connects with ``sslmode=verify-full``, and with
``sslrootcert=system`` (the TLS library's trusted roots) unless a CA is configured
(``sslrootcert``, ``PGSSLROOTCERT`` or libpq's ``~/.postgresql/root.crt``). A weaker
``sslmode`` set explicitly is honoured with a warning on every run under the default profile.

The ``production`` profile accepts only ``sslmode=verify-full`` with a CA (``sslrootcert``: a
file, or ``system`` for the TLS library's trusted roots): anything else could be talking to an
impostor. ``allow_insecure_tls`` lets a weaker connection through, with a warning on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .dsn import Dsn, endpoints
from .errors import ConfigError

PROFILES = ("development", "production")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
KEYS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
LIBPQ_ENV = {key: "PG" + key.upper() for key in KEYS}  # PGSSLMODE, PGSSLROOTCERT, ...
LIBPQ_DEFAULT_SSLMODE = "prefer"
DEFAULT_ROOT_CERT = Path("~/.postgresql/root.crt")  # libpq's CA file when none is set

_FIX = (
    "use sslmode=verify-full with the CA that signed the server's certificate: "
    "MIG_SSLMODE=verify-full MIG_SSLROOTCERT=/path/to/ca.pem (or --sslmode/--sslrootcert, or "
    "?sslmode=verify-full&sslrootcert=... in the URL; sslrootcert=system trusts the TLS "
    "library's roots). To connect without verification anyway, pass --allow-insecure-tls "
    "(MIG_ALLOW_INSECURE_TLS=1); mig then warns on every run"
)


def check_profile(name: str) -> str:
    """``name`` if it is a profile (development, production), else a :class:`ConfigError`."""
    if name not in PROFILES:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, got {name!r}")
    return name


def check_sslmode(value: str | None) -> str | None:
    """``value`` if it is a libpq ``sslmode`` (or None), else a :class:`ConfigError`."""
    if value is not None and value not in SSLMODES:
        raise ConfigError(f"sslmode must be one of {', '.join(SSLMODES)}, got {value!r}")
    return value


def with_settings(dsn: Dsn, values: Mapping[str, str | None]) -> Dsn:
    """``dsn`` with mig's explicit TLS settings written in (they win over the URL's)."""
    changes = {key: value for key, value in values.items() if value is not None}
    return dsn.with_params(**changes) if changes else dsn


def effective(dsn: Dsn, env: Mapping[str, str]) -> dict[str, tuple[str | None, str]]:
    """What libpq will use for each TLS key, and where it comes from: key -> (value, source)."""
    found: dict[str, tuple[str | None, str]] = {}
    for key in KEYS:
        if dsn.get(key) is not None:
            found[key] = (dsn.get(key), "the connection settings")
        elif env.get(LIBPQ_ENV[key]):
            found[key] = (env[LIBPQ_ENV[key]], LIBPQ_ENV[key])
        else:
            found[key] = (None, "libpq's default")
    return found


def remote_hosts(dsn: Dsn, env: Mapping[str, str]) -> list[str]:
    """The servers of ``dsn`` reached at an address that is not local (see
    :attr:`mig.dsn.Endpoint.is_local`: a ``hostaddr`` counts, not the host name beside it),
    as shown in messages. A connection is local only when this is empty."""
    return [str(end) for end in endpoints(dsn, env) if not end.is_local]


def verified_by_default(dsn: Dsn, env: Mapping[str, str]) -> tuple[Dsn, tuple[str, ...]]:
    """``dsn`` with verified TLS for a host that is not local unless ``sslmode`` is set, and
    the warnings to show: an explicit weaker ``sslmode`` for such a host."""
    remote = remote_hosts(dsn, env)
    if not remote:
        return dsn, ()
    found = effective(dsn, env)
    mode, mode_source = found["sslmode"]
    root = found["sslrootcert"][0]
    if mode is None:
        if root == "system":
            return dsn, ()  # libpq's default then is verify-full
        changes = {"sslmode": "verify-full"}
        if root is None and not DEFAULT_ROOT_CERT.expanduser().is_file():
            changes["sslrootcert"] = "system"
        return dsn.with_params(**changes), ()
    if mode == "verify-full":
        return dsn, ()
    return dsn, (
        f"warning: the server's identity is NOT verified: sslmode is {mode!r} (from "
        f"{mode_source}) for {', '.join(remote)}, which is not a local host; mig's default "
        "there is verify-full (honoured because it was set explicitly; the production profile "
        "refuses it)",)


def problems(dsn: Dsn | None, env: Mapping[str, str]) -> list[str]:
    """Why a connection to ``dsn`` would not verify the server; empty when it would."""
    if dsn is None:
        return ["no database is configured: the embedded server is for development"]
    found = effective(dsn, env)
    mode, mode_source = found["sslmode"]
    root, root_source = found["sslrootcert"]
    shown: list[str] = []
    sockets = [end.address for end in endpoints(dsn, env) if end.is_socket]
    if sockets:
        where = sockets[0] or "a Unix socket (no host given)"
        shown.append(f"the connection goes through {where}, where TLS does not apply")
    if mode is None and root == "system":
        mode = "verify-full"  # libpq's default once sslrootcert=system
    if mode != "verify-full":
        if mode is None:
            shown.append(f"sslmode is not set, so libpq uses {LIBPQ_DEFAULT_SSLMODE!r}, which "
                         "neither requires TLS nor checks the server's certificate")
        else:
            shown.append(f"sslmode is {mode!r} (from {mode_source}), which does not check "
                         "both the server's certificate and its host name")
    if root is None:
        shown.append("no CA is given (sslrootcert) to check the server's certificate against")
    elif root != "system" and not Path(root).expanduser().is_file():
        shown.append(f"the CA file {root} (sslrootcert, from {root_source}) does not exist")
    return shown


def check(
    profile: str, dsn: Dsn | None, env: Mapping[str, str], *, allow_insecure: bool
) -> tuple[str, ...]:
    """Enforce the profile. Returns the warnings to show on this run.

    :raises ConfigError: the production profile and a connection that does not verify the
        server, without ``allow_insecure``.
    """
    if profile != "production":
        return ()
    found = problems(dsn, env)
    if not found:
        return ()
    listed = "".join(f"\n  - {p}" for p in found)
    if not allow_insecure:
        raise ConfigError(
            "the production profile requires a verified TLS connection (sslmode=verify-full "
            f"with a CA), and this one is not:{listed}",
            hint=_FIX,
        )
    return (
        "warning: the server's identity is NOT verified (production profile, allowed by "
        f"--allow-insecure-tls / MIG_ALLOW_INSECURE_TLS):{listed}",
    )
