"""SQL text split into statements, with what the lint rules must not look into blanked out.

Comments, string literals and dollar-quoted bodies (function bodies, ``DO`` blocks) are
replaced by spaces, keeping every line break, so that a rule's regular expression sees only
the statement's own words and a match's offset still gives its line.
"""

from __future__ import annotations

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


def _blank(text: str) -> str:
    return "".join("\n" if ch == "\n" else " " for ch in text)


def mask(text: str) -> str:
    """``text`` with comments, literals and dollar-quoted bodies blanked (same length)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif ch == "'":
            escapes = i > 0 and text[i - 1] in "eE"
            end = i + 1
            while end < n:
                if escapes and text[end] == "\\":
                    end += 2
                    continue
                if text[end] == "'":
                    if text.startswith("''", end):
                        end += 2
                        continue
                    break
                end += 1
            end = min(end + 1, n)
        elif ch == "$" and (match := _DOLLAR.match(text, i)) and not text[i - 1 : i].isalnum():
            close = text.find(match.group(0), match.end())
            end = n if close < 0 else close + len(match.group(0))
        else:
            out.append(ch)
            i += 1
            continue
        out.append(_blank(text[i:end]))
        i = end
    return "".join(out)


def statements(text: str) -> list[Statement]:
    """The statements of ``text`` (split at top-level semicolons), each with its lines."""
    masked = mask(text)
    result = []
    start = 0
    for end in [m.start() for m in re.finditer(";", masked)] + [len(masked)]:
        chunk = masked[start:end]
        stripped = chunk.lstrip()
        if stripped.strip():
            begin = start + len(chunk) - len(stripped)
            line = text.count("\n", 0, begin) + 1
            result.append(Statement(
                text=text[begin:end].strip(),
                words=" ".join(stripped.split()).upper(),
                line=line,
                end_line=line + stripped.rstrip().count("\n"),
            ))
        start = end + 1
    return result


def has_sql(text: str) -> bool:
    """Whether ``text`` holds a statement (the server refuses a string of comments only)."""
    if "/*" in text:
        return bool(statements(text))
    return any(line.strip() and not line.lstrip().startswith("--") for line in text.splitlines())
