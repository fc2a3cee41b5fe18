"""What a lint check found, and the SQL it looked at."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..disk.scripts import Script


def shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (as editors and CI expect)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)


@dataclass
class Finding:
    """One problem: where (file and line), which rule, what is wrong and how to fix it."""

    path: Path
    line: int
    rule: str
    message: str
    hint: str | None = None
    tool: str = "mig"  # "mig" or "squawk"
    level: str = "error"  # "error" fails the run, "warning" does not
    end_line: int | None = field(default=None, compare=False)  # the statement's last line

    def __str__(self) -> str:
        text = f"{shown(self.path)}:{self.line}: {self.rule}: {self.message}"
        if self.level != "error":
            text += f" ({self.level})"
        return text + (f"\n  hint: {self.hint}" if self.hint else "")

    def to_json(self) -> dict:
        """The finding as --json prints it."""
        return {
            "path": shown(self.path),
            "line": self.line,
            "rule": self.rule,
            "level": self.level,
            "tool": self.tool,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class Source:
    """SQL of one migration to check: a whole file, or one string step of a Python migration.

    ``first_line`` is the line of ``path`` where ``text`` starts, so findings in ``text`` can
    name lines of the file itself.
    """

    script: Script
    path: Path
    text: str
    rollback: bool
    first_line: int = 1

    @property
    def transactional(self) -> bool:
        """Whether the migration runs in one transaction."""
        return self.script.transactional
