"""SQL text split into statements, with what the lint rules must not look into blanked out.

Comments, string literals and dollar-quoted bodies (function bodies, ``DO`` blocks) are
replaced by spaces, keeping every line break, so that a rule's regular expression sees only
the statement's own words and a match's offset still gives its line.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class Statement:
    """One statement of an SQL text, with the lines it spans."""

    text: str  # as written
    words: str  # upper case, comments and literals blanked, whitespace collapsed
    line: int  # where it starts (1-based)
    end_line: int
    start: int = 0  # the offset in the text where it starts


# where something that is blanked may start: everything between is copied as it is
_OPENING = re.compile(r"--|/\*|'|\$")


def _blank(text: str) -> str:
    return "\n".join(" " * len(line) for line in text.split("\n"))


def _literal_end(text: str, i: int) -> int:
    """Where the string literal opening at ``i`` ends (past its closing quote)."""
    n = len(text)
    end = i + 1
    if i > 0 and text[i - 1] in "eE":  # E'...': backslash escapes, one character at a time
        while end < n:
            if text[end] == "\\":
                end += 2
                continue
            if text[end] == "'":
                if text.startswith("''", end):
                    end += 2
                    continue
                break
            end += 1
        return min(end + 1, n)
    while (close := text.find("'", end)) >= 0:
        if not text.startswith("''", close):
            return close + 1
        end = close + 2
    return n


def mask(text: str) -> str:
    """``text`` with comments, literals and dollar-quoted bodies blanked (same length)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        found = _OPENING.search(text, i)
        if found is None:
            out.append(text[i:])
            break
        at = found.start()
        out.append(text[i:at])
        opening = found.group(0)
        if opening == "--":
            end = text.find("\n", at)
            end = n if end < 0 else end
        elif opening == "/*":
            end = text.find("*/", at + 2)
            end = n if end < 0 else end + 2
        elif opening == "'":
            end = _literal_end(text, at)
        elif (match := _DOLLAR.match(text, at)) and not text[at - 1 : at].isalnum():
            close = text.find(match.group(0), match.end())
            end = n if close < 0 else close + len(match.group(0))
        else:  # a $ that opens nothing ($1, a$b)
            out.append("$")
            i = at + 1
            continue
        out.append(_blank(text[at:end]))
        i = end
    return "".join(out)


def statements(text: str) -> list[Statement]:
    """The statements of ``text`` (split at top-level semicolons), each with its lines."""
    return list(_statements(text))


@functools.lru_cache(maxsize=128)
def _statements(text: str) -> tuple[Statement, ...]:
    # Kept by text: a file is split when it is checked and again when it runs, and a fleet
    # does both for every target. Statements are frozen: the cached ones are shared.
    masked = mask(text)
    result = []
    start = 0
    counted, line = 0, 1  # the line at offset ``counted``, counted on from there
    for end in [m.start() for m in re.finditer(";", masked)] + [len(masked)]:
        chunk = masked[start:end]
        stripped = chunk.lstrip()
        if stripped.strip():
            begin = start + len(chunk) - len(stripped)
            line += text.count("\n", counted, begin)
            counted = begin
            result.append(Statement(
                text=text[begin:end].strip(),
                words=" ".join(stripped.split()).upper(),
                line=line,
                end_line=line + stripped.rstrip().count("\n"),
                start=begin,
            ))
        start = end + 1
    return tuple(result)


def has_sql(text: str) -> bool:
    """Whether ``text`` holds a statement (the server refuses a string of comments and
    semicolons only as an empty query)."""
    if "/*" in text:
        return bool(statements(text))
    for line in text.splitlines():
        code = line.replace(";", " ").strip()
        if code and not code.startswith("--"):
            return True
    return False


def top_level(text: str) -> list[str]:
    """``text`` split at its commas outside parentheses, each part stripped, an empty last part
    left out: an ALTER TABLE's actions, an enum's labels, a table's columns."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts
