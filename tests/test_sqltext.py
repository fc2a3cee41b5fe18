"""SQL text split into statements: what is blanked, where statements start, on hostile text."""

from __future__ import annotations

import random
import re

import pytest

from mig.disk.sqltext import has_sql, mask, statements, top_level
from tests.support import REPO

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def _reference_mask(text: str) -> str:
    """The definition, one character at a time: the scanner must give the same text."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif text[i] == "'":
            escapes = i > 0 and text[i - 1] in "eE"
            end = i + 1
            while end < n:
                if escapes and text[end] == "\\" or text.startswith("''", end):
                    end += 2
                elif text[end] == "'":
                    break
                else:
                    end += 1
            end = min(end + 1, n)
        elif text[i] == "$" and (m := _DOLLAR.match(text, i)) and not text[i - 1:i].isalnum():
            close = text.find(m.group(0), m.end())
            end = n if close < 0 else close + len(m.group(0))
        else:
            out.append(text[i])
            i += 1
            continue
        out.append("".join("\n" if ch == "\n" else " " for ch in text[i:end]))
        i = end
    return "".join(out)


def _blanked(piece: str) -> str:
    return "".join("\n" if ch == "\n" else " " for ch in piece)


# each case: pieces of text, the odd-numbered ones (1, 3, ...) blanked
@pytest.mark.parametrize("pieces", [
    ["SELECT 1; ", "-- a comment; here", "\nSELECT 2;"],
    ["SELECT ", "'a;b'", ", ", "'it''s'", ";"],
    ["SELECT E", "'a\\';b'", ";"],
    ["", "/* x;\n y */", "SELECT 1"],
    ["DO ", "$$ BEGIN; END $$", ";"],
    ["DO ", "$body$ a $$ b; $body$", ";"],
    ["SELECT $1, a$b$c;"],
    ["SELECT ", "'unterminated; string"],
    ["SELECT 1 ", "/* unterminated; comment"],
    ["SELECT 1 ", "$q$ unterminated; body"],
    [""],
])
def test_mask_blanks_comments_literals_and_dollar_bodies(pieces):
    text = "".join(pieces)
    expected = "".join(_blanked(p) if i % 2 else p for i, p in enumerate(pieces))
    assert mask(text) == expected


def test_mask_matches_its_definition_on_generated_text():
    pieces = ["SELECT", " ", "\n", ";", "'", "''", "E'", "\\", "--", "/*", "*/", "$$", "$a$",
              "$1", "a$", "x", "-", "/", "*", "é", "\t"]
    rng = random.Random(20261207)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        masked = mask(text)
        assert masked == _reference_mask(text), text
        assert len(masked) == len(text) and masked.count("\n") == text.count("\n"), text


def test_statements_keep_their_lines_and_words():
    text = ("-- header\nCREATE TABLE a (\n  id int -- key; not split\n);\n\n\n"
            "INSERT INTO a VALUES (1);\n")
    found = statements(text)
    assert [(s.line, s.end_line, s.words) for s in found] == [
        (2, 4, "CREATE TABLE A ( ID INT )"),
        (7, 7, "INSERT INTO A VALUES (1)"),
    ]
    assert found[0].text == "CREATE TABLE a (\n  id int -- key; not split\n)"
    assert statements("-- only a comment\n;\n;") == []
    assert not has_sql("-- only\n/* comments */\n") and has_sql("/* c */ SELECT 1")


def test_every_statement_of_the_shipped_sql_starts_at_its_line():
    files = sorted((REPO / "migrations").glob("*.sql"))
    assert files
    for path in files:
        text = path.read_text()
        lines = text.splitlines()
        for found in statements(text):
            first = found.text.splitlines()[0]
            assert lines[found.line - 1].strip().startswith(first.strip()), (path, found.line)
            assert found.text.splitlines()[-1].strip() in lines[found.end_line - 1]


def test_top_level_splits_at_the_commas_outside_parentheses():
    assert top_level("ADD COLUMN a numeric(10, 2), ALTER COLUMN b SET DEFAULT f(1, 2) ,") == [
        "ADD COLUMN a numeric(10, 2)", "ALTER COLUMN b SET DEFAULT f(1, 2)"]
    assert top_level("'a', 'b'") == ["'a'", "'b'"]
    assert top_level("  ") == []
