"""Connection strings libpq would misread, and the guessing that hides passwords before parsing."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from mig.dsn import Dsn, guess_secrets, redact
from mig.errors import ConfigError


@pytest.mark.parametrize(
    "text,part",
    [
        # libpq: no user, host "u", port "Sl4sh" (or, when that part is a number, a wrong
        # host and port that may well answer)
        ("postgresql://u:Sl4sh/Unenc0ded@db:5433/app", "password"),
        ("postgresql://u:5432/Unenc0ded@db:5433/app", "password"),
        # libpq: password "At5ign", host "Unenc0ded@db"
        ("postgresql://u:At5ign@Unenc0ded@db:5433/app", "password"),
        ("postgres+psycopg2://u:At5ign@Unenc0ded@db/app?sslmode=require", "password"),
        # libpq: user "me", host "corp"
        ("postgresql://me@corp:pw@db/app", "user name"),
    ],
)
def test_unencoded_userinfo_is_refused_without_echoing_it(text, part):
    with pytest.raises(ConfigError) as info:
        Dsn.parse(text)
    message = str(info.value)
    assert f"the {part} in the database URL contains '@' or '/'" in message
    assert "percent-encode" in message and "%40" in message and "%2F" in message
    for secret in ("Sl4sh", "Unenc0ded", "At5ign", "corp:pw"):
        assert secret not in message


@pytest.mark.parametrize("password", ["Sl4sh/Unenc0ded", "At5ign@Unenc0ded", "a/b@c:d?e%f"])
def test_the_same_passwords_percent_encoded_are_read_as_written(password):
    dsn = Dsn.parse(f"postgresql://u:{quote(password, safe='')}@db:5433/app")
    assert (dsn.password, dsn.get("host"), dsn.get("port"), dsn.dbname) == (
        password, "db", "5433", "app")
    assert dsn.masked == "postgresql://u:***@db:5433/app"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("postgresql://h/a@b", {"host": "h", "dbname": "a@b"}),  # '@' in a database name
        ("postgresql://u:p@h/db?application_name=a@b", {"password": "p", "host": "h"}),
        ("postgresql://u:pa?ss@h/db", {"password": "pa?ss", "host": "h"}),  # libpq reads it
        ("host=h password=a/b@c dbname=db", {"password": "a/b@c", "host": "h"}),
    ],
)
def test_urls_libpq_reads_as_meant_are_accepted(text, expected):
    params = dict(Dsn.parse(text).params)
    assert {key: params.get(key) for key in expected} == expected


@pytest.mark.parametrize(
    "text,password",
    [
        ("postgresql://mig:S3c/retPW@127.0.0.1:1/db", "S3c/retPW"),
        ("postgresql://mig:S3c@retPW@127.0.0.1:1/db", "S3c@retPW"),
        ("--database=postgresql://mig:S3c@retPW@127.0.0.1:1/db", "S3c@retPW"),
        ("postgresql://mig:S3cret%21@h/db", "S3cret!"),
        ("postgresql://mig:S3c%zz@h/db", "S3c%zz"),  # unparseable: guessed as written
        ("host=h password='S3c ret' dbname=db", "S3c ret"),  # quoted: parsed
        ("host=h password=S3cret", "S3cret"),
    ],
)
def test_guess_secrets_finds_the_whole_password(text, password):
    secrets = guess_secrets(text)
    assert password in secrets
    assert password not in redact(f"about {text}: {password}", *secrets)
    assert quote(password, safe="") not in redact(text, *secrets)


@pytest.mark.parametrize("word", ["apply", "--lock-wait", "5", "host=db dbname=app",
                                  "postgresql://mig@db/app", "migrations/0001_x.sql"])
def test_guess_secrets_finds_nothing_where_there_is_no_password(word):
    assert guess_secrets(word) == ()


@pytest.mark.parametrize("text", ["postgresql://u:pw@db:notaport/app",
                                  "host=db port=54x32 dbname=app"])
def test_a_port_that_is_not_a_number_is_a_configuration_error(text):
    with pytest.raises(ConfigError, match="is not a number") as caught:
        Dsn.parse(text)
    assert "pw" not in str(caught.value) and caught.value.exit_code == 2


def test_several_hosts_with_their_ports_are_accepted():
    dsn = Dsn.parse("postgresql://u@db1:5432,db2:5433/app")
    assert dsn.get("port") == "5432,5433"


@pytest.mark.parametrize("given", [
    "postgresql://postgres@%2Ftmp%2Fa%20b%2Fpgdata:5432/mig?sslmode=disable",
    "host='/tmp/a b/pgdata' port=5432 dbname=mig user=postgres sslmode=disable",
    "postgresql://postgres@/mig?host=/tmp/a%20b/pgdata&port=5432&sslmode=disable",
])
def test_a_socket_folder_is_written_as_the_host_parameter_and_read_back(given):
    dsn = Dsn.parse(given)
    expected = "postgresql://postgres@/mig?host=/tmp/a%20b/pgdata&port=5432&sslmode=disable"
    assert dsn.url == dsn.masked == expected  # no %2F host, which yoyo cannot open
    assert Dsn.parse(dsn.url).params == dsn.params
    assert dsn.get("host") == "/tmp/a b/pgdata" and dsn.dbname == "mig"


# -- masking never garbles -------------------------------------------------------------------
MESSAGE = ('connection to {url} failed: password authentication failed for user "mig" '
           "(attempt 1 of 1, 50% of the wait; exit 0x1a)")


@pytest.mark.parametrize("password", ["x", "a", "1", "%", "postgres"])
def test_a_short_or_common_password_is_masked_as_a_credential_and_nowhere_else(password):
    url = f"postgresql://mig:{quote(password, safe='')}@db.example:5432/app?sslmode=require"
    masked = redact(MESSAGE.format(url=url), password)
    assert masked == MESSAGE.format(
        url="postgresql://mig:***@db.example:5432/app?sslmode=require")
    keywords = f"host=db.example password={password} dbname=app"
    assert redact(keywords, password) == "host=db.example password=*** dbname=app"
    assert redact(f"PGPASSWORD={password} mig apply", password) == "PGPASSWORD=*** mig apply"
    quoted = f"host=db password='{password} x' dbname=app"
    assert redact(quoted, password) == "host=db password=*** dbname=app"


def test_a_credential_is_masked_even_when_mig_was_not_told_it():
    text = "postgresql://mig:hunter2@db/app and sslpassword=k3y and ?password=p&x=1"
    assert redact(text) == "postgresql://mig:***@db/app and sslpassword=*** and ?password=***&x=1"


def test_a_long_password_is_masked_wherever_it_stands_as_a_word():
    assert redact("echoed: S3cretPw and S3cretPw%21 (postgresql)", "S3cretPw", "postgres") == (
        "echoed: *** and ***%21 (postgresql)")
    assert redact('user "postgres" at /postgres', "postgres") == 'user "***" at /***'
    # its percent-encoded form too
    assert redact("url: S3c%2Fret", "S3c/ret") == "url: ***"
