"""docs/lint.md documents every rule of mig's own, by name and level, and no rule that is not
one (the rules are those of :mod:`mig.lint.registry`)."""

from __future__ import annotations

import re

import pytest

from mig.lint import registry
from mig.lint.findings import Finding
from tests.support import REPO

DOC = REPO / "docs" / "lint.md"


def documented() -> dict[str, str]:
    """rule -> level of every row of the table under "mig's own rules" in docs/lint.md."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### mig's own rules", 1)[1].split("\n\n", 2)[1]  # the table
    rows = {}
    for line in section.splitlines()[2:]:  # past the header and its rule line
        match = re.match(r"^\| `([a-z][a-z0-9-]*)`( \(warning\))? \|", line)
        assert match, f"docs/lint.md: a row of mig's own rules that names no rule: {line}"
        assert match.group(1) not in rows, f"docs/lint.md: {match.group(1)} twice"
        rows[match.group(1)] = "warning" if match.group(2) else "error"
    return rows


def test_docs_list_every_rule_with_its_level_and_no_other():
    rules = {name: rule.level for name, rule in registry.registered().items()}
    assert len(rules) >= 15
    assert documented() == rules


def test_every_rule_has_a_summary_and_the_rules_with_a_check_are_mig_lints_own():
    rules = registry.registered()
    assert all(rule.summary for rule in rules.values())
    checked = {name for name, rule in rules.items() if rule.check is not None}
    assert checked == {"missing-rollback", "empty-migration", "not-rerunnable", "destructive",
                       "non-transactional-statement", "transaction-control",
                       "unbounded-dml", "noop-rollback", "syntax-error"}


def test_a_rule_registered_twice_or_with_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        registry.declare(registry.Rule("destructive", "error", "again"))
    with pytest.raises(ValueError, match="level 'fatal'"):
        registry.Rule("new-rule", "fatal", "a level that does not exist")


def test_a_check_reports_its_own_rule_at_its_level(tmp_path):
    path = tmp_path / "1_x.sql"

    def check(migration: registry.Migration):
        yield Finding(path, 1, "own", "found")

    rule = registry.Rule("own", "warning", "a rule of a test", check)
    found = list(rule.run(None))  # type: ignore[arg-type]
    assert [(f.rule, f.level) for f in found] == [("own", "warning")]
    other = registry.Rule("other", "error", "reports another rule's findings", check)
    with pytest.raises(ValueError, match="reports its own rule only"):
        list(other.run(None))  # type: ignore[arg-type]


def test_squawk_rules_that_mig_reports_itself_come_from_the_registry():
    assert registry.superseded() == {
        "prefer-robust-stmts": "not-rerunnable",
        "transaction-nesting": "transaction-control",
        "ban-concurrent-index-creation-in-transaction": "non-transactional-statement",
        "syntax-error": "syntax-error",
    }
    assert set(registry.replaced()) == {"ban-drop-table", "ban-drop-column"}
    destructive = registry.registered()["destructive"]
    assert destructive.covers("ban-drop-not-null") and not destructive.covers("ban-char-field")


# The calls that report a finding, and the position of the rule's name among their arguments.
REPORTERS = {"Finding": 2, "_finding": 2, "Problem": 0}


def reported_rules() -> dict[str, str]:
    """rule -> where, of every rule name written as a literal where mig reports a finding."""
    import ast

    found = {}
    for path in [*(REPO / "mig" / "lint").glob("*.py"), REPO / "mig" / "disk" / "sumfile.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            at = REPORTERS.get(node.func.id)
            if at is not None and len(node.args) > at \
                    and isinstance(node.args[at], ast.Constant):
                found[node.args[at].value] = f"{path.relative_to(REPO)}:{node.lineno}"
    return found


def test_every_rule_mig_reports_is_registered_and_every_rule_registered_is_reported():
    reported = reported_rules()
    assert {"history-sum", "out-of-order", "unrunnable", "destructive"} <= set(reported)
    unknown = {rule: where for rule, where in reported.items()
               if rule not in registry.registered()}
    assert unknown == {}
    assert set(registry.registered()) == set(reported)
