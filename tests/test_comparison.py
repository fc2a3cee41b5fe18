"""The one comparison of two schema snapshots, and the ways it reads (no database needed)."""

from __future__ import annotations

import json

from mig.engine.comparison import (
    Difference,
    OwnedSchema,
    compare,
    diff,
    differences,
    lines,
    signed_lines,
)

BODY_BEFORE = "CREATE FUNCTION f()\n RETURNS int\nAS $$ SELECT 1 $$"
BODY_AFTER = "CREATE FUNCTION f()\n RETURNS int\nAS $$ SELECT 2 $$"

EXPECTED = {
    "tables": {"users": "(id, email)", "teams": "(id)"},
    "columns": {"users.id": "integer not null", "users.email": "text not null",
                "teams.id": "integer"},
    "functions": {"f()": BODY_BEFORE},
}
ACTUAL = {
    "tables": {"users": "(id, email)", "notes": "(id)"},
    "columns": {"users.id": "bigint not null", "users.email": "text not null",
                "notes.id": "integer"},
    "functions": {"f()": BODY_AFTER},
}


def test_each_difference_is_a_typed_record_in_section_order():
    found = compare(EXPECTED, ACTUAL)
    assert found == [
        Difference("table", "notes", "extra", None, "(id)"),
        Difference("table", "teams", "missing", "(id)", None),
        Difference("column", "notes.id", "extra", None, "integer"),
        Difference("column", "teams.id", "missing", "integer", None),
        Difference("column", "users.id", "changed", "integer not null", "bigint not null"),
        Difference("function", "f()", "changed", BODY_BEFORE, BODY_AFTER),
    ]
    assert compare(EXPECTED, EXPECTED) == []


def test_the_json_form_is_what_mig_diff_json_prints():
    (first, *_) = compare(EXPECTED, ACTUAL)
    assert json.loads(json.dumps(first.to_json())) == {
        "change": "extra", "kind": "table", "name": "notes", "expected": None, "actual": "(id)"}


def test_mig_diff_lines_and_mig_verify_lines_read_the_same_differences():
    found = compare(EXPECTED, ACTUAL)
    assert lines(found) == [
        "extra table notes: (id)",
        "missing table teams: (id)",
        "extra column notes.id: integer",
        "missing column teams.id: integer",
        "changed column users.id: type integer -> bigint",
        "changed function f():",
        "    - AS $$ SELECT 1 $$",
        "    + AS $$ SELECT 2 $$",
    ]
    assert signed_lines(found) == diff(EXPECTED, ACTUAL) == [
        "+ table notes: (id)",
        "- table teams: (id)",
        "+ column notes.id: integer",
        "- column teams.id: integer",
        "- column users.id: integer not null",
        "+ column users.id: bigint not null",
        "~ function f():",
        "    - AS $$ SELECT 1 $$",
        "    + AS $$ SELECT 2 $$",
    ]


def test_across_databases_the_owner_role_is_set_aside_and_a_column_is_said_once():
    expected = OwnedSchema({"tables": {"t": "(id)"}, "columns": {"t.id": "integer"},
                            "grants": {"table t": "{builder=arwdDxtm/builder}"}}, "builder")
    actual = OwnedSchema({"tables": {"t": "(id, extra)"},
                          "columns": {"t.id": "integer", "t.extra": "text"},
                          "grants": {"table t": "{app=arwdDxtm/app}"}}, "app")
    assert differences(expected, actual) == [
        Difference("column", "t.extra", "extra", None, "text")]
