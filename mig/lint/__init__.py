"""``mig lint``: squawk and mig's own checks over the migrations, and the history lock file.

:func:`lint` checks every migration of the configured folders (or the files given) and returns
a :class:`LintReport` of :class:`Finding` objects, each naming file, line and rule. What is
checked, and how a rule is switched off (always with a reason), is in docs/lint.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk import sumfile as history
from ..disk.scripts import Script
from ..dsn import Dsn
from ..errors import BadMigrationFile, ConfigError
from . import parsed, registry, rules, squawk
from . import settings as settings_mod
from .findings import Finding, Source
from .registry import Migration, Rule
from .settings import LintSettings

__all__ = ["Finding", "LintReport", "LintSettings", "lint"]

# squawk rules about removing or renaming things: what a rollback is for.
_ROLLBACK_PREFIXES = ("ban-drop-", "renaming-")
_ROLLBACK_RULES = {"ban-set-schema", "ban-alter-identity", "ban-revoke", "ban-truncate-cascade"}


@dataclass
class LintReport:
    """What :func:`lint` found in ``migrations`` files, and the rules switched off (with why)."""

    migrations: int
    findings: list[Finding] = field(default_factory=list)
    switched_off: dict[str, str] = field(default_factory=dict)
    squawk: str = ""

    @property
    def errors(self) -> list[Finding]:
        """The findings that fail the check (the others are warnings)."""
        return [f for f in self.findings if f.level == "error"]

    @property
    def ok(self) -> bool:
        """Whether no finding is an error."""
        return not self.errors

    def to_json(self) -> dict:
        """The report as --json prints it."""
        return {
            "ok": self.ok,
            "migrations": self.migrations,
            "errors": len(self.errors),
            "warnings": len(self.findings) - len(self.errors),
            "findings": [f.to_json() for f in self.findings],
            "switched_off": self.switched_off,
            "squawk": self.squawk,
        }


def _select(files: Sequence[str | Path], known: list[Script]) -> tuple[list[Script], bool]:
    """The scripts to check: every known one, or those of ``files``; and whether any of them
    belongs to the configured folders (and so to the history)."""
    if not files:
        return known, True
    by_path: dict[Path, Script] = {}
    for script in known:
        by_path[script.path.resolve()] = script
        if script.rollback_path is not None:
            by_path[script.rollback_path.resolve()] = script
    chosen: dict[Path, Script] = {}
    any_known = False
    for name in files:
        path = Path(name).resolve()
        if path.name.endswith(".rollback.sql"):
            path = path.with_name(path.name[: -len(".rollback.sql")] + ".sql")
        known_script = by_path.get(path)
        if known_script is None:
            if not (path.is_file() and scripts_mod.is_migration_name(path)):
                raise ConfigError(f"{name}: not a migration file",
                                  hint="give .sql or .py migrations whose names start with a "
                                  "digit (or their .rollback.sql files)")
            known_script = Script(path.stem, path, path.name.startswith("post-apply"))
        else:
            any_known = True
        chosen[known_script.path] = known_script
    return list(chosen.values()), any_known


def _out_of_order(scripts: list[Script], known: set[str], where: str, hint: str) -> list[Finding]:
    """Migrations not in ``known`` ordered before one that is."""
    found = []
    for index, script in enumerate(scripts):
        if script.id in known:
            continue
        later = next((s.id for s in scripts[index + 1:] if s.id in known), None)
        if later is not None:
            found.append(Finding(
                script.path, 1, "out-of-order",
                f"{script.id} is new, but ordered before {later}, which is already {where} "
                "(added on a parallel branch?): databases that have it would apply this one "
                "after it, fresh ones before it", hint))
    return found


def _history(settings: Settings, scripts: list[Script], hooks: list[Script],
             database: Dsn | None) -> list[Finding]:
    sums, problems = history.check(settings.sources, scripts + hooks)
    newest = scripts[-1].id if scripts else ""
    hint = (f"rename it to sort after {newest} and make it depend on {newest} ('mig new' "
            "writes both; move the SQL over), then run 'mig hash'")
    findings = []
    if sums.exists:
        findings += _out_of_order(scripts, set(sums.ids), f"in {history.FILE_NAME}", hint)
    if database is not None:
        from ..engine import tracking
        from ..engine.connect import connected

        with connected(database, "lint") as conn:
            applied = {a.id for a in tracking.read_applied(conn, settings.migration_table)}
        findings += _out_of_order(scripts, applied, f"applied in {database.masked}", hint)
    reordered = {f.path for f in findings}
    findings += [Finding(p.path, p.line, p.rule, p.message, p.hint) for p in problems
                 if not (p.rule == "history-unlisted" and p.path in reordered)]
    return findings


def _marker_findings(script: Script) -> tuple[set[str], list[Finding]]:
    """The rules a script's ``-- mig: allow-<rule> <reason>`` markers switch off."""
    allowed: set[str] = set()
    problems = []
    for path in (script.path, script.rollback_path):
        if path is None:
            continue
        text = path.read_text(encoding="utf-8")
        for match in rules.MARKER.finditer(text):
            rule, reason = match.groups()
            if reason:
                allowed.add(rule)
                continue
            problems.append(Finding(
                path, text.count("\n", 0, match.start()) + 1, rule,
                f"the allow-{rule} marker gives no reason, so it switches nothing off",
                f"write it as: mig: allow-{rule} <why it is safe here>"))
    return allowed, problems


def _keep_squawk(source: Source, finding: Finding, allowed: set[str], own: list[Finding],
                 known: dict[str, Rule]) -> bool:
    """Whether a squawk finding is reported: not a rollback's removal, not switched off by the
    marker of a rule of mig's that covers it, not inside a statement a rule of mig's that
    supersedes it reported."""
    rule = finding.rule
    if source.rollback and (rule.startswith(_ROLLBACK_PREFIXES) or rule in _ROLLBACK_RULES):
        return False
    if any(name in known and known[name].covers(rule) for name in allowed):
        return False
    superseded_by = registry.superseded().get(rule)
    return not any(
        mine.rule == superseded_by and mine.path == finding.path
        and mine.line <= finding.line <= (mine.end_line or mine.line)
        for mine in own
    )


def lint(settings: Settings, files: Sequence[str | Path] = (), *, database: Dsn | None = None,
         lint_settings: LintSettings | None = None, since: str | None = None) -> LintReport:
    """Check migrations with squawk and mig's own rules, and the history lock file.

    :param files: migration files to check (default: every migration of ``settings.sources``
        and the lock file itself).
    :param database: also report new migrations ordered before one applied there.
    :param lint_settings: default: ``[tool.mig.lint]`` of the project's ``pyproject.toml``.
    :param since: check only the migrations after this migration id, or those added or changed
        since this git revision (a branch, tag or commit): how a shipped history adopts lint.
    :raises ConfigError: a file that is not a migration, unreadable lint settings, or a
        ``since`` that is neither a migration id nor a git revision.
    :raises MigError: squawk or pglast is not installed, or squawk failed.
    """
    parsed.require()  # the tools of the lint extra, before anything is read
    squawk.executable()
    config = lint_settings or settings_mod.load(settings.project_dir)
    scripts, hooks = scripts_mod.load(settings.sources, checked=False)
    chosen, in_history = _select(files, scripts + hooks)
    if since is not None:
        chosen = _since(settings, scripts + hooks, chosen, since)

    known = registry.registered()
    findings: list[Finding] = []
    allowed: dict[Path, set[str]] = {}
    sources: list[Source] = []
    checked = {script.path for script in chosen}
    # The history in order (column types are learnt from every migration before the one
    # checked), then any file given from outside it.
    columns = parsed.Columns()
    for script in scripts + hooks + [s for s in chosen if s not in scripts + hooks]:
        try:  # a file whose text cannot be read: what apply refuses, as a finding
            script.text  # noqa: B018
            script.rollback_sql  # noqa: B018
        except BadMigrationFile as exc:
            where = Path(exc.path or script.path)
            message = exc.message.removeprefix(f"{where}:").removeprefix(f"{exc.line}:")
            if script.path in checked:
                findings.append(Finding(where, exc.line or 1, "unrunnable", message.strip(),
                                        exc.hint or ""))
            continue
        own = list(rules.sources(script))
        if script.path in checked:
            marks, problems = _marker_findings(script)
            findings += problems
            for path in (script.path, script.rollback_path):
                if path is not None:
                    allowed[path] = marks
            migration = Migration(script, tuple(own), columns)
            for rule in known.values():
                findings += rule.run(migration)
            sources += own
        for source in own:
            if not source.rollback:
                columns.learn(source)
    mine = list(findings)
    for source, finding in squawk.check(sources, config):
        if _keep_squawk(source, finding, allowed.get(source.path, set()), mine, known):
            findings.append(finding)
    if in_history:
        history_findings = _history(settings, scripts, hooks, database)
        if files or since is not None:  # only what concerns the files checked
            paths = set(allowed)
            history_findings = [f for f in history_findings if f.path in paths]
        findings += history_findings

    findings = [f for f in findings
                if not config.is_off(f.rule, f.path) and f.rule not in allowed.get(f.path, ())]
    for f in findings:
        f.level = config.level(f.rule, f.level)
    findings.sort(key=lambda f: (str(f.path), f.line, f.rule))
    return LintReport(len(chosen), findings, config.switched_off(), squawk.version())


def _since(settings: Settings, known: list[Script], chosen: list[Script],
           since: str) -> list[Script]:
    """The scripts of ``chosen`` newer than migration ``since``, or changed since git
    revision ``since``."""
    ids = [s.id for s in known]
    if since in ids:
        newer = {s.id for s in known[ids.index(since) + 1:]}
        return [s for s in chosen if s.id in newer]
    changed = _changed_since(settings, since)
    return [s for s in chosen
            if s.path.resolve() in changed
            or (s.rollback_path is not None and s.rollback_path.resolve() in changed)]


def _changed_since(settings: Settings, revision: str) -> set[Path]:
    """Files under the migration folders added or changed since ``revision`` (committed or
    not, and files git does not track yet)."""
    import subprocess

    def git(*args: str) -> list[str]:
        result = subprocess.run(["git", *args], cwd=settings.project_dir, capture_output=True,
                                text=True)
        if result.returncode != 0:
            said = result.stderr.strip().splitlines() or ["git failed"]
            raise ConfigError(
                f"--since {revision}: neither a migration id nor a git revision here"
                f" ({said[-1]})",
                hint="give the id of the last migration already checked (see 'mig status'),"
                " or a branch, tag or commit, e.g. --since origin/main")
        return [line for line in result.stdout.splitlines() if line]

    top = Path(git("rev-parse", "--show-toplevel")[0])
    git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    folders = [str(folder) for folder in settings.sources]
    names = git("diff", "--name-only", "--diff-filter=AMR", revision, "--", *folders)
    names += git("ls-files", "--others", "--exclude-standard", "--full-name", "--", *folders)
    return {(top / name).resolve() for name in names}
