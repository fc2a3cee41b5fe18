"""docs/seeds.md is tested: its YAML examples load, and its error examples are real output."""

from __future__ import annotations

import re
import shutil

import pytest

from mig.errors import SeedError
from tests.support import REPO, apply_product_schema, execute, seed

DOC = (REPO / "docs" / "seeds.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", DOC, re.DOTALL)


def _examples(marker: str) -> dict[str, str]:
    found = {}
    for lang, body in BLOCKS:
        first, _, rest = body.partition("\n")
        if lang == "yaml" and first.startswith(f"# {marker}: "):
            found[first.split(": ", 1)[1]] = body
    return found


def _text_after(marker: str) -> str:
    """The first ```text block after the line containing ``marker``."""
    tail = DOC[DOC.index(marker):]
    return re.search(r"```text\n(.*?)```", tail, re.DOTALL).group(1).strip()


@pytest.fixture
def seeds(db_url, tmp_path, monkeypatch):
    apply_product_schema(db_url)
    root = tmp_path / "seeds"
    shutil.copytree(REPO / "seeds" / "base", root / "base")
    for name, body in _examples("file").items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
    monkeypatch.chdir(tmp_path)  # messages then name files as seeds/...
    return root


def test_the_doc_has_examples():
    assert set(_examples("file")) == {
        "test/10_plans.yaml", "test/20_features.yaml", "test/30_plan_limits.yaml"}
    assert set(_examples("invalid")) == {"test/40_more_limits.yaml"}


def test_examples_load_and_reload_unchanged(db_url, seeds):
    report = seed(db_url, seeds, "test")
    assert list(report.tables)[-3:] == ["plans", "features", "plan_limits"]
    assert report.tables["plan_limits"].inserted == 3
    assert execute(db_url, """
        SELECT p.key, f.key, l.limit_value, l.reset_interval FROM plan_limits l
        JOIN plans p ON p.id = l.plan_id JOIN features f ON f.id = l.feature_id ORDER BY 1, 2
    """) == [("pro", "api_calls", None, "never"), ("pro", "seats", 25, "month"),
             ("starter", "seats", 3, "month")]
    assert execute(db_url, "SELECT key, currency, billing_interval, price_amount, trial_days "
                           "FROM plans ORDER BY key") == [
        ("pro", "EUR", "month", 2900, 14), ("pro_yearly", "EUR", "year", 29000, 0),
        ("starter", "EUR", "month", 0, 0)]
    again = seed(db_url, seeds, "test")
    assert not again.changed


def test_validation_example_is_real_output(db_url, seeds):
    [(name, body)] = _examples("invalid").items()
    (seeds / name).write_text(body)
    with pytest.raises(SeedError) as caught:
        seed(db_url, seeds, "test")
    assert f"error: {caught.value}" == _text_after("stops the run with:")


def test_database_error_example_is_real_output(db_url, seeds):
    roles = seeds / "base" / "010_roles.yaml"
    roles.write_text(roles.read_text().replace("name: Owner", "name: \" \""))
    with pytest.raises(SeedError) as caught:
        seed(db_url, seeds)
    assert f"error: {caught.value}" == _text_after("## Errors while writing")


def test_quoted_shipped_fixture_matches_the_file():
    quoted = next(body for lang, body in BLOCKS if body.startswith(
        "# seeds/base/030_role_permissions.yaml"))
    shipped = (REPO / "seeds" / "base" / "030_role_permissions.yaml").read_text().splitlines()
    assert all(line in shipped for line in quoted.splitlines()[1:])


def test_what_admin_lacks_is_documented_as_shipped():
    from tests.test_seed_shipped import NOT_FOR_ADMIN

    section = DOC[DOC.index("## The shipped seeds"):DOC.index("## Prune")]
    admin = next(p for p in section.split("\n- ") if p.startswith("`admin`"))
    assert set(re.findall(r"`(\w+\.\w+)`", admin)) == NOT_FOR_ADMIN
    assert "the owner's call" in admin
