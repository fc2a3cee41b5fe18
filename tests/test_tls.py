"""TLS: settings from every source, the production profile, and a real TLS server.

The server is Debian's PostgreSQL 15 (the embedded build has no OpenSSL), started by this module
with a CA and certificates it generates; it accepts TLS connections only (hostssl). The settings
tests need no server.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import mig
from mig.config import resolve
from mig.errors import EXIT_USAGE, ConfigError
from mig.placement import give_to_server_user, scratch_folder
from mig.server import LocalServer
from tests.support import PG15_BINDIR, run_mig, write_project

CLIENT_ROLE = "tls_client"  # may log in only with a client certificate signed by the CA
# A name that is not local, in the server's certificate; reached at this machine's own
# address that is not a loopback one (hostaddr), where the server listens too.
REMOTE_NAME = "db.mig-test.example"


def _own_address() -> str | None:
    """An IPv4 address of this machine that is not a loopback address (None: it has none)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the address
        address = probe.getsockname()[0]
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


OWN_ADDRESS = _own_address()


# -- certificates ----------------------------------------------------------------------------
def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer_name: str, issuer_key, *, ca: bool = False,
                 dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False), critical=True)
    names = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(i))
                                                for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pem(path: Path, cert: x509.Certificate | None = None, key=None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        path.chmod(0o644)
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    return path


@dataclass
class TlsServer:
    server: LocalServer
    ca: Path
    other_ca: Path
    client_cert: Path
    client_key: Path

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, query: str = "", *, host: str = "localhost", user: str = "postgres") -> str:
        return f"postgresql://{user}@{host}:{self.port}/postgres" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[TlsServer]:
    if not (PG15_BINDIR / "postgres").exists():
        pytest.skip(f"Debian's PostgreSQL 15 server ({PG15_BINDIR}) is not installed: "
                    "apt-get install postgresql-15")
    folder = scratch_folder("mig-tls-")  # the server's user (as root) reads its files
    ca_key, other_key, server_key, client_key = _key(), _key(), _key(), _key()
    ca = _certificate("mig test CA", ca_key, "mig test CA", ca_key, ca=True)
    other = _certificate("another CA", other_key, "another CA", other_key, ca=True)
    server_cert = _certificate("localhost", server_key, "mig test CA", ca_key,
                               dns=("localhost", REMOTE_NAME), ips=("127.0.0.1",))
    client_cert = _certificate(CLIENT_ROLE, client_key, "mig test CA", ca_key)
    paths = {
        "ca": _write_pem(folder / "ca.crt", ca),
        "other_ca": _write_pem(folder / "other-ca.crt", other),
        "client_cert": _write_pem(folder / "client.crt", client_cert),
        "client_key": _write_pem(folder / "client.key", key=client_key),
    }
    server_crt = _write_pem(folder / "server.crt", server_cert)
    server_key_file = _write_pem(folder / "server.key", key=server_key)
    give_to_server_user(server_key_file)  # as root the server's user must own its key
    settings = {"ssl": "on", "ssl_cert_file": str(server_crt),
                "ssl_key_file": str(server_key_file), "ssl_ca_file": str(paths["ca"]),
                "fsync": "off"}
    hba = [f"hostssl all {CLIENT_ROLE} 127.0.0.1/32 cert",
           "hostssl all all 127.0.0.1/32 trust",
           "host all all 127.0.0.1/32 reject"]  # no TLS, no connection
    if OWN_ADDRESS is not None:  # also reached as a host that is not local
        settings["listen_addresses"] = f"127.0.0.1,{OWN_ADDRESS}"
        hba += [f"hostssl all all {OWN_ADDRESS}/32 trust", f"host all all {OWN_ADDRESS}/32 reject"]
    server = LocalServer(folder / "data", bindir=PG15_BINDIR, settings=settings, hba=hba,
                         listen_tcp=True)
    server.start()
    try:
        tls = TlsServer(server, **paths)
        conn = psycopg2.connect(tls.url(f"sslmode=verify-full&sslrootcert={tls.ca}"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {CLIENT_ROLE} LOGIN")
        conn.close()
        yield tls
    finally:
        server.destroy()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "project", {"0001_a.sql": "SELECT 1;\n"})


def _uses_tls(url: str, **extra: str) -> bool:
    conn = psycopg2.connect(url, **extra)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


# -- against the TLS server ------------------------------------------------------------------
@pytest.mark.parametrize("source", ["url", "options", "mig_env", "libpq_env", "ini"])
def test_the_right_ca_connects_under_the_production_profile(tls_server, project, source):
    t = tls_server
    args, env = ["status", "--exit-code"], {}
    url = t.url()
    if source == "url":
        url = t.url(f"sslmode=verify-full&sslrootcert={t.ca}")
        args += ["--profile", "production"]
    elif source == "options":
        args += ["--profile", "production", "--sslmode", "verify-full", "--sslrootcert",
                 str(t.ca)]
    elif source == "mig_env":
        env = {"MIG_PROFILE": "production", "MIG_SSLMODE": "verify-full",
               "MIG_SSLROOTCERT": str(t.ca)}
    elif source == "libpq_env":
        env = {"MIG_PROFILE": "production", "PGSSLMODE": "verify-full",
               "PGSSLROOTCERT": str(t.ca)}
    else:  # the CA path relative to yoyo.ini's folder
        (project / "certs").mkdir()
        (project / "certs" / "ca.crt").write_bytes(t.ca.read_bytes())
        with (project / "yoyo.ini").open("a") as ini:
            ini.write("[mig]\nprofile = production\nsslmode = verify-full\n"
                      "sslrootcert = certs/ca.crt\n")
    result = run_mig([*args, "-d", url], cwd=project, env=env)
    assert result.returncode == 4, result.stderr  # connected; 0001_a is pending
    assert "pending  0001_a" in result.stdout
    assert "warning" not in result.stderr
    assert _uses_tls(t.url(f"sslmode=verify-full&sslrootcert={t.ca}"))


def test_a_wrong_ca_is_refused(tls_server, project):
    t = tls_server
    result = run_mig(["status", "--profile", "production", "-d",
                      t.url(f"sslmode=verify-full&sslrootcert={t.other_ca}")], cwd=project)
    assert result.returncode == 1
    assert "certificate verify failed" in result.stderr
    assert "not signed by the CA in sslrootcert" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_certificate_for_another_host_name_is_refused(tls_server, project):
    t = tls_server
    # The server at 127.0.0.1 presents its certificate for "localhost" while the client asked
    # for db.example.test: an impostor with a valid certificate for some other name.
    query = f"hostaddr=127.0.0.1&sslrootcert={t.ca}"
    url = t.url(query + "&sslmode=verify-full", host="db.example.test")
    result = run_mig(["status", "--profile", "production", "-d", url], cwd=project)
    assert result.returncode == 1
    assert 'does not match host name "db.example.test"' in result.stderr
    assert "issued for another host name" in result.stderr
    # verify-ca checks the signature only, so the name is what refused it above
    assert _uses_tls(t.url(query + "&sslmode=verify-ca", host="db.example.test"))


def test_a_connection_without_tls_is_refused_by_the_server(tls_server, project):
    t = tls_server
    result = run_mig(["status", "-d", t.url("sslmode=disable")], cwd=project)
    assert result.returncode == 1
    assert "no encryption" in result.stderr
    assert "the server accepts TLS connections only" in result.stderr


def test_a_client_certificate_from_the_environment(tls_server, project):
    t = tls_server
    env = {"MIG_PROFILE": "production", "MIG_SSLMODE": "verify-full",
           "MIG_SSLROOTCERT": str(t.ca), "MIG_SSLCERT": str(t.client_cert),
           "MIG_SSLKEY": str(t.client_key)}
    result = run_mig(["status", "-d", t.url(user=CLIENT_ROLE)], cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    # without the certificate, the server's "cert" rule refuses the role
    env.pop("MIG_SSLCERT"), env.pop("MIG_SSLKEY")
    result = run_mig(["status", "-d", t.url(user=CLIENT_ROLE)], cwd=project, env=env)
    assert result.returncode == 1
    assert "requires a valid client certificate" in result.stderr
    assert "set sslcert and sslkey" in result.stderr


def test_the_opt_out_connects_and_warns_on_every_run(tls_server, project):
    t = tls_server
    url = t.url("sslmode=require")
    for env, flag in (({}, ["--allow-insecure-tls"]), ({"MIG_ALLOW_INSECURE_TLS": "1"}, [])):
        for _ in range(2):
            result = run_mig(["status", "-q", "--profile", "production", *flag, "-d", url],
                             cwd=project, env=env)
            assert result.returncode == 0, result.stderr
            assert "warning: the server's identity is NOT verified" in result.stderr
            assert "sslmode is 'require'" in result.stderr


def _remote(t: TlsServer, query: str = "") -> str:
    """The TLS server reached as a host that is not local: its name, at an address that is not
    a loopback one."""
    if OWN_ADDRESS is None:
        pytest.skip("this machine has no address but loopback ones to reach a server at")
    return t.url(f"hostaddr={OWN_ADDRESS}" + (f"&{query}" if query else ""), host=REMOTE_NAME)


def test_a_host_that_is_not_local_is_verified_by_default(tls_server, project):
    t = tls_server
    config = run_mig(["config", "--json", "-d", _remote(t)], cwd=project)
    assert "sslmode=verify-full&sslrootcert=system" in config.stdout
    # the CA configured: verified, no warning, under the default profile
    result = run_mig(["status", "-d", _remote(t)], cwd=project,
                     env={"MIG_SSLROOTCERT": str(t.ca)})
    assert "pending  0001_a" in result.stdout, result.stderr
    assert "warning" not in result.stderr
    # no CA configured: the system's roots do not know the test CA, so it is refused
    result = run_mig(["status", "-d", _remote(t)], cwd=project, env={"HOME": str(project)})
    assert result.returncode == 1
    assert "certificate verify failed" in result.stderr
    assert "not signed by any CA the system trusts (sslrootcert=system)" in result.stderr
    assert "--sslrootcert /path/to/ca.pem, MIG_SSLROOTCERT" in result.stderr
    # a local name is left to libpq's default, as before
    local = run_mig(["config", "--json", "-d", t.url()], cwd=project)
    assert "sslmode" not in local.stdout.split('"database"')[1].split("\n")[0]


@pytest.mark.parametrize("how", ["url", "option", "PGSSLMODE"])
def test_an_explicit_weaker_sslmode_is_honoured_with_a_warning(tls_server, project, how):
    t = tls_server
    url, args, env = _remote(t), [], {}
    if how == "url":
        url = _remote(t, "sslmode=require")
    elif how == "option":
        args = ["--sslmode", "require"]
    else:
        env = {"PGSSLMODE": "require"}
    result = run_mig(["status", "-q", "--exit-code", *args, "-d", url], cwd=project, env=env)
    assert result.returncode == 4, result.stderr  # connected (unverified): 0001_a is pending
    assert result.stderr.count("warning: the server's identity is NOT verified: sslmode is "
                               "'require'") == 1
    assert (f"for {REMOTE_NAME} (hostaddr {OWN_ADDRESS}), which is not a local host"
            in result.stderr)
    refused = run_mig(["status", "--profile", "production", *args, "-d", url], cwd=project,
                      env=env)
    assert refused.returncode == EXIT_USAGE
    assert "the production profile requires a verified TLS connection" in refused.stderr


def test_the_production_profile_refuses_before_connecting(tls_server, project):
    t = tls_server
    result = run_mig(["status", "--profile", "production", "-d", t.url("sslmode=require")],
                     cwd=project)
    assert result.returncode == EXIT_USAGE
    assert "the production profile requires a verified TLS connection" in result.stderr
    assert "sslmode is 'require' (from the connection settings)" in result.stderr
    assert "--allow-insecure-tls" in result.stderr


# -- settings (no server) --------------------------------------------------------------------
URL = "postgresql://mig@db.internal:5432/app"


def _settings(tmp_path, database=URL, env=None, **options):
    return resolve(database=database, project_dir=tmp_path, env=env or {}, **options)


def _refusal(tmp_path, database=URL, env=None, **options) -> str:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, database, env, profile="production", **options)
    return str(caught.value)


def test_production_explains_each_weakness(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt to fall back on
    # nothing set: a host that is not local gets verify-full with the system's roots
    settings = _settings(tmp_path, profile="production")
    assert settings.database.get("sslmode") == "verify-full"
    assert settings.database.get("sslrootcert") == "system" and settings.warnings == ()
    message = _refusal(tmp_path, URL + "?sslmode=prefer")
    assert "sslmode is 'prefer' (from the connection settings)" in message
    assert "no CA is given (sslrootcert)" in message
    assert "MIG_SSLMODE=verify-full MIG_SSLROOTCERT=" in message
    message = _refusal(tmp_path, URL + "?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem")
    assert "sslmode is 'verify-ca' (from the connection settings)" in message
    assert "the CA file /nonexistent/ca.pem (sslrootcert, from the connection settings) does "\
        "not exist" in message
    message = _refusal(tmp_path, env={"PGSSLMODE": "require"})
    assert "sslmode is 'require' (from PGSSLMODE)" in message
    message = _refusal(tmp_path, database=None)
    assert "the production profile refuses the embedded development server" in message
    message = _refusal(tmp_path, database="host=/var/run/postgresql dbname=app",
                       sslmode="verify-full", sslrootcert="system")
    assert "goes through /var/run/postgresql, where TLS does not apply" in message


def test_production_accepts_verify_full_with_a_ca(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    settings = _settings(tmp_path, URL + f"?sslmode=verify-full&sslrootcert={ca}",
                         profile="production")
    assert settings.warnings == ()
    # sslrootcert=system (the TLS library's roots) makes libpq default to verify-full
    settings = _settings(tmp_path, URL + "?sslrootcert=system", profile="production")
    assert settings.warnings == () and settings.database.get("sslmode") is None


def test_mig_settings_win_over_the_url_which_wins_over_libpq_variables(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    env = {"MIG_SSLMODE": "verify-full", "MIG_SSLROOTCERT": str(ca), "PGSSLMODE": "disable"}
    settings = _settings(tmp_path, URL + "?sslmode=require&sslrootcert=/old.pem", env=env,
                         profile="production")
    assert settings.database.get("sslmode") == "verify-full"
    assert settings.database.get("sslrootcert") == str(ca)
    settings = _settings(tmp_path, URL + "?sslmode=require", sslmode="verify-ca",
                         env={"MIG_SSLMODE": "disable"})
    assert settings.database.get("sslmode") == "verify-ca"  # the option over the environment
    settings = _settings(tmp_path, URL + "?sslmode=require", env={"PGSSLMODE": "disable"})
    assert settings.database.get("sslmode") == "require"  # libpq: the URL over PGSSLMODE


def test_tls_settings_from_yoyo_ini_are_relative_to_its_folder(tmp_path):
    (tmp_path / "yoyo.ini").write_text(
        "[DEFAULT]\nsources = %(here)s/migrations\n[mig]\nprofile = production\n"
        "sslmode = verify-full\nsslrootcert = certs/ca.pem\nsslcert = certs/me.crt\n"
        "sslkey = certs/me.key\n")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("x")
    settings = resolve(database=URL, project_dir=tmp_path, env={})
    assert settings.profile == "production"
    assert settings.database.get("sslrootcert") == str(tmp_path / "certs" / "ca.pem")
    assert settings.database.get("sslkey") == str(tmp_path / "certs" / "me.key")


def test_the_opt_out_is_a_warning_not_a_silence(tmp_path):
    with pytest.warns(mig.InsecureTLSWarning, match="NOT verified"):
        settings = _settings(tmp_path, URL + "?sslmode=disable", profile="production",
                             allow_insecure_tls=True)
    assert len(settings.warnings) == 1 and "NOT verified" in settings.warnings[0]
    with pytest.warns(mig.InsecureTLSWarning):
        settings = _settings(tmp_path, URL + "?sslmode=disable",
                             env={"MIG_PROFILE": "production", "MIG_ALLOW_INSECURE_TLS": "yes"})
    assert settings.allow_insecure_tls and settings.warnings
    # development honours an explicit weaker sslmode for a remote host, with a warning; for a
    # local one it asks for nothing and warns about nothing
    with pytest.warns(mig.InsecureTLSWarning, match="sslmode is 'disable'"):
        assert _settings(tmp_path, URL + "?sslmode=disable").warnings
    local = "postgresql://mig@localhost:5432/app?sslmode=disable"
    assert _settings(tmp_path, local).warnings == ()


@pytest.mark.parametrize("options,needle", [
    ({"profile": "staging"}, "profile must be one of development, production"),
    ({"sslmode": "verify"}, "sslmode must be one of disable, allow, prefer"),
    ({"allow_insecure_tls": "maybe"}, "allow_insecure_tls must be true or false"),
])
def test_bad_tls_settings_are_config_errors(tmp_path, options, needle):
    with pytest.raises(ConfigError, match=needle):
        _settings(tmp_path, **options)


# -- local means local -----------------------------------------------------------------------
@pytest.mark.parametrize("database,env,local", [
    ("host=localhost hostaddr=203.0.113.5 dbname=app", {}, False),  # hostaddr wins
    ("postgresql://mig@localhost/app?hostaddr=203.0.113.5", {}, False),
    ("host=/var/run/postgresql hostaddr=203.0.113.5 dbname=app", {}, False),
    ("host=db.example hostaddr=127.0.0.1 dbname=app", {}, True),  # the name only names it
    ("host=localhost,db.example dbname=app", {}, False),  # every host counts
    ("host=localhost,db.example hostaddr=,127.0.0.1 dbname=app", {}, True),
    ("host=localhost,/tmp,::1 dbname=app", {}, True),
    ("dbname=app", {"PGHOST": "localhost", "PGHOSTADDR": "203.0.113.5"}, False),
    ("host=localhost dbname=app", {"PGHOSTADDR": "203.0.113.5"}, False),
    ("dbname=app", {}, True),  # libpq's default Unix socket
])
def test_a_connection_is_local_only_when_every_address_it_uses_is(tmp_path, monkeypatch,
                                                                   database, env, local):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt
    settings = _settings(tmp_path, database, env=env)
    expected = None if local else "verify-full"
    assert settings.database.get("sslmode") == expected, settings.database.masked


def test_a_weaker_sslmode_for_a_local_name_at_a_remote_address_warns_naming_both(tmp_path):
    with pytest.warns(mig.InsecureTLSWarning) as caught:
        settings = _settings(tmp_path, "host=localhost hostaddr=203.0.113.5 sslmode=require")
    assert settings.database.get("sslmode") == "require"
    (warning,) = settings.warnings
    assert "for localhost (hostaddr 203.0.113.5), which is not a local host" in warning
    assert len(caught) == 1


def test_a_socket_folder_with_a_hostaddr_is_judged_by_the_address(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    settings = _settings(tmp_path, "host=/var/run/postgresql hostaddr=203.0.113.5 dbname=app",
                         profile="production", sslmode="verify-full", sslrootcert=str(ca))
    assert settings.warnings == ()  # TCP to 203.0.113.5 with TLS: not "through a socket"
