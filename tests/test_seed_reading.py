"""Reading fixtures fast gives what reading them slowly gives: values, lines, problems.

The event reader is checked against PyYAML's node-composing loader, and a read from the seed
cache against a fresh read, on every fixture the repository has and on YAML that uses what
the event reader leaves to the loader. The cache keeps no secret value and survives damage.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import yaml

from mig.seeds import SeedCache
from mig.seeds import reader as yaml_reader
from mig.seeds.files import read_fixture, read_fixtures
from mig.seeds.reader import LineDict, Secret
from tests.support import FIXTURES, REPO, write_seeds

FILES = sorted([*REPO.glob("seeds/*/*.yaml"), *FIXTURES.rglob("*.yaml"),
                *REPO.glob("docs/examples/**/*.yaml")])

SNIPPETS = {
    "anchors and merge keys": "base: &b {a: 1}\nrows:\n  - <<: *b\n    c: 2\n",
    "alias of a scalar": "x: &v 3\ny: *v\n",
    "explicit tags": "a: !!str 12\nb: !!int '7'\nc: !!float 1\nd: !!binary aGk=\n",
    "timestamps": "d: 2024-05-01\nt: 2024-05-01 10:00:00+02:00\nu: 2024-05-01T10:00:00Z\n",
    "yaml 1.1 scalars": "a: yes\nb: off\nc: 0o17\nd: 017\ne: 0x1F\nf: 1_000\ng: ~\nh: 1:30\n",
    "secrets": "a: !secret A_VAR\nb: !secret {env: B_VAR, optional: true}\nc: [!secret C]\n",
    "bad secret": "a: !secret {name: X}\n",
    "duplicate keys": "rows:\n  - {a: 1, a: 2}\n  - a: 1\n    b: 2\n    a: 3\n",
    "block rows": "rows:\n  - key: a\n    value:\n      nested: [1, 2]\n  - key: b\n",
    "empty": "",
    "only a comment": "# nothing\n",
    "a list": "- 1\n- 2\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "syntax error": "rows:\n  - {a: 1, b: [}\n",
    "unknown tag": "a: !nope 1\n",
    "collection key": "? [a, b]\n: 1\n",
    "bool and int keys": "1: a\ntrue: b\nnull: c\n",
    "quoted": "a: 'yes'\nb: \"1\"\nc: \"line\\nbreak\\ttab\"\n",
}


def normal(value: Any) -> Any:
    """A comparable picture of a read value: types, lines and secret markers included."""
    if isinstance(value, Secret):
        return ("secret", value.env, value.optional)
    if isinstance(value, LineDict):
        return ("map", value.line, [(normal(k), value.lines[k], normal(v))
                                    for k, v in value.items()])
    if isinstance(value, dict):
        return ("dict", [(normal(k), normal(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [normal(v) for v in value])
    return (type(value).__name__, value)


def both_ways(text: str) -> tuple[Any, Any]:
    def attempt(read: Any) -> Any:
        try:
            doc, duplicates, secrets = read(text)
        except Exception as exc:  # noqa: BLE001 - compared, not hidden
            return ("error", type(exc).__name__, str(exc))
        return normal(doc), duplicates, secrets

    return attempt(yaml_reader.parse), attempt(yaml_reader._from_nodes)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO)) for p in FILES])
def test_event_reader_matches_the_loader_on_every_fixture(path):
    fast, slow = both_ways(path.read_text())
    assert fast == slow


@pytest.mark.parametrize("text", SNIPPETS.values(), ids=list(SNIPPETS))
def test_event_reader_matches_the_loader_on_unusual_yaml(text):
    fast, slow = both_ways(text)
    assert fast == slow


def test_event_reader_is_the_one_used_for_plain_fixtures(monkeypatch):
    def refuse(text: str) -> Any:
        raise AssertionError("the node-composing loader was used")

    monkeypatch.setattr(yaml_reader, "_from_nodes", refuse)
    doc, _, _ = yaml_reader.parse((REPO / "seeds/base/030_role_permissions.yaml").read_text())
    assert doc["table"] == "role_permissions"


def picture(path: Path, cache: SeedCache | None) -> Any:
    """Everything a fixture read gives: its fields, every row with lines, every problem."""
    fixture, problems = read_fixture(path, cache=cache)
    found = [(p.file, p.line, p.message, p.key) for p in problems]
    if fixture is None:
        return None, found
    rows = [(normal(_dicts(r.values)), r.line, {k: r.line_of(k) for k in r.values},
             sorted(r.secret_fields)) for r in fixture.rows]
    return (fixture.table, fixture.key, fixture.references, fixture.owned, fixture.owned_where,
            fixture.update, fixture.lines, sorted(fixture.broken), fixture.fields, rows), found


def _dicts(value: Any) -> Any:
    """Row values with their mappings' own line numbers left out (rows do not use them)."""
    if isinstance(value, dict):
        return {k: _dicts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dicts(v) for v in value]
    return value


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO)) for p in FILES])
def test_a_cached_read_is_a_fresh_read(path, tmp_path, monkeypatch):
    monkeypatch.delenv("MIG_DEV_OPERATOR_PASSWORD_HASH", raising=False)
    cache = SeedCache(tmp_path / "cache")
    fresh = picture(path, None)
    assert picture(path, cache) == fresh  # parsed, then kept
    assert picture(path, cache) == fresh  # from the cache


def test_defaults_block_rows_and_odd_values_survive_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIG_TEST_TOKEN", "tok")
    seeds = write_seeds(tmp_path / "s", {"base/a.yaml": """
        table: things
        key: name
        defaults: {kind: plain, size: 1}
        rows:
          - {name: a, size: 2}
          - name: b
            born: 2024-05-01
            at: 2024-05-01 10:00:00+02:00
            blob: !!binary aGk=
          - {name: c, token: !secret MIG_TEST_TOKEN, doc: {k: [1, 2.5, null, true]}}
          - {name: d, 7: x}
    """})
    path = seeds / "base" / "a.yaml"
    cache = SeedCache(tmp_path / "cache")
    fresh = picture(path, None)
    assert picture(path, cache) == fresh
    assert picture(path, cache) == fresh
    [fixture], problems = read_fixtures(seeds, cache=cache)
    assert [(p.line, p.message) for p in problems] == [(11, "field names are strings, got 7")]
    a, b, c, d = fixture.rows
    assert (a.values["size"], a.line_of("kind"), a.line_of("size")) == (2, 3, 5)
    assert b.values["born"] == dt.date(2024, 5, 1) and b.values["blob"] == b"hi"
    assert (b.line, b.line_of("born"), b.line_of("blob")) == (6, 7, 9)
    assert c.values["token"].value == "tok" and c.secret_fields == {"token"}
    assert d.values == {"kind": "plain", "size": 1, "name": "d"}


def test_secret_values_never_reach_the_cache(tmp_path, monkeypatch):
    value = "s3cr3t-value-7f9a2c"
    monkeypatch.setenv("MIG_TEST_TOKEN", value)
    seeds = write_seeds(tmp_path / "s", {"base/a.yaml": """
        table: things
        key: name
        rows:
          - {name: a, token: !secret MIG_TEST_TOKEN}
          - {name: b, doc: {inner: !secret {env: MIG_TEST_TOKEN, optional: true}}}
    """})
    cache = SeedCache(tmp_path / "cache")
    for _ in range(2):
        [fixture], problems = read_fixtures(seeds, cache=cache)
        assert not problems
        assert fixture.rows[0].values["token"].value == value
    stored = b"".join(p.read_bytes() for p in (tmp_path / "cache").iterdir())
    assert b"MIG_TEST_TOKEN" in stored and value.encode() not in stored


@pytest.mark.parametrize("damage", ["garbage", "truncated", "checksum", "shape", "empty"])
def test_a_damaged_entry_is_ignored_and_replaced(tmp_path, damage):
    path = REPO / "seeds" / "base" / "020_permissions.yaml"
    cache = SeedCache(tmp_path / "cache")
    fresh = picture(path, cache)
    [entry] = (tmp_path / "cache").iterdir()
    data = entry.read_bytes()
    header, _, body = data.partition(b"\n")
    entry.write_bytes({
        "garbage": b"\x00\xff not json",
        "truncated": data[: len(data) // 2],
        "checksum": header + b"\n" + body.replace(b"members.invite", b"members.inviTE"),
        "shape": header.replace(json.loads(header)["sha256"].encode(),
                                __import__("hashlib").sha256(b"[1]").hexdigest().encode())
        + b"\n[1]",
        "empty": b"",
    }[damage])
    assert picture(path, cache) == fresh
    assert cache.get(entry.stem) is not None  # written again, whole


def _writer(folder: str, rounds: int) -> None:
    cache = SeedCache(folder)
    for n in range(rounds):
        cache.put("k" * 64, {"rows": list(range(2000)), "n": n % 1})


def test_concurrent_writers_leave_a_whole_entry(tmp_path):
    folder = str(tmp_path / "cache")
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(folder, 40))
             for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert SeedCache(folder).get("k" * 64) == {"rows": list(range(2000)), "n": 0}
    assert [p.name for p in Path(folder).iterdir()] == ["k" * 64 + ".json"]  # no temp files


def test_a_yaml_version_change_is_a_new_entry(tmp_path, monkeypatch):
    path = REPO / "seeds" / "base" / "010_roles.yaml"
    read_fixture(path, cache=SeedCache(tmp_path / "cache"))
    monkeypatch.setattr("mig.seeds.cache._VERSION", "other:" + yaml.__version__)
    read_fixture(path, cache=SeedCache(tmp_path / "cache"))
    assert len(list((tmp_path / "cache").iterdir())) == 2
