"""The layers of docs/architecture.md, checked on the source: every import of a mig module goes
down the layer table (or stays in its layer), and no module reaches another module's private
names. Read with ``ast``, so lazy imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
import yoyo

from tests.support import REPO

PACKAGE = REPO / "mig"

# The layer of each part of the package, lowest first: a module may import from its own layer
# and the layers below it, never from a layer above (docs/architecture.md).
LAYERS: dict[str, int] = {
    "mig.errors": 0, "mig.dsn": 0, "mig.tls": 0, "mig.server": 0, "mig.binaries": 0,
    "mig.orphans": 0, "mig.placement": 0, "mig.reports": 0, "mig.records": 0,
    "mig.ordering": 0, "mig.lazy": 0, "mig.about": 0,
    "mig.yoyo": 1,
    "mig.config": 2,
    "mig.disk": 3,
    "mig.engine": 4,
    "mig.seeds": 5, "mig.data": 5, "mig.lint": 5,
    "mig.commands": 6, "mig.fleet": 6,
    "mig.cli": 7, "mig.testing": 7,
    "mig": 8, "mig.__main__": 8,
}
# Parts of one layer that stay independent of each other.
APART = {"mig.seeds", "mig.data", "mig.lint", "mig.cli", "mig.testing"}
# What the CLI may not reach past the verbs: it parses, calls a verb, prints.
CLI_NEVER = ("mig.disk", "mig.engine")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The entry of LAYERS that ``module`` belongs to (the longest matching prefix)."""
    candidates = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    if not candidates:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")
    return max(candidates, key=len)


def resolve(module: str, node: ast.ImportFrom, *, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) of every mig import in ``path``; ``from a import b``
    where ``b`` is a module counts as importing ``a.b``."""
    module = module_name(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names
                      if a.name.split(".")[0] == "mig"]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, node, is_package=path.name == "__init__.py")
            if target.split(".")[0] != "mig":
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if is_module(full):
                    found.append((node.lineno, full, []))
                else:
                    found.append((node.lineno, target, [alias.name]))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_folder_of_modules_is_a_package_that_setuptools_finds():
    folders = {path.parent for path in SOURCES}
    assert [f for f in folders if not (f / "__init__.py").is_file()] == []


def test_every_module_is_in_a_layer():
    assert SOURCES
    for path in SOURCES:
        part_of(module_name(path))


def wrong_imports(paths: list[Path]) -> list[str]:
    """Every import of ``paths`` that goes against the layer table."""
    wrong = []
    for path in paths:
        here = part_of(module_name(path))
        for line, target, _names in imports(path):
            there = part_of(target)
            where = f"{path.relative_to(REPO)}:{line}: {here} imports {target}"
            if LAYERS[there] > LAYERS[here]:
                wrong.append(f"{where} (layer {LAYERS[there]} above {LAYERS[here]})")
            elif there != here and LAYERS[there] == LAYERS[here] and {here, there} <= APART:
                wrong.append(f"{where} (two parts of one layer that stay apart)")
            elif here == "mig.cli" and there.startswith(CLI_NEVER):
                wrong.append(f"{where} (the CLI calls verbs of mig.commands instead)")
    return wrong


def test_imports_go_down_the_layers():
    assert wrong_imports(SOURCES) == []


def private_uses(paths: list[Path]) -> list[str]:
    """Every use in ``paths`` of another module's ``_private`` name."""
    wrong = []
    for path in paths:
        module = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules_bound: set[str] = set()  # local names bound to mig modules
        for line, target, names in imports(path):
            for name in names:
                if name.startswith("_") and not name.startswith("__") and target != module:
                    wrong.append(f"{path.relative_to(REPO)}:{line}: {target}.{name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = resolve(module, node, is_package=path.name == "__init__.py")
                modules_bound |= {a.asname or a.name for a in node.names
                                  if target.startswith("mig") and is_module(f"{target}.{a.name}")}
            elif isinstance(node, ast.Import):
                modules_bound |= {a.asname for a in node.names
                                  if a.asname and a.name.startswith("mig")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in modules_bound and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno}: "
                             f"{node.value.id}.{node.attr}")
    return wrong


def test_no_module_uses_another_modules_private_names():
    assert private_uses(SOURCES) == []


def import_circles(paths: list[Path]) -> list[list[str]]:
    """The circles of imports among the modules of ``paths`` (lazy and ``TYPE_CHECKING`` ones
    count): each as its modules, sorted. A package's ``__init__`` is left out: it hands its
    modules' names on, and they import each other as modules."""
    packages = {module_name(p) for p in paths if p.name == "__init__.py"}
    graph = {module_name(p): {t for _, t, _ in imports(p)} for p in paths}
    graph = {m: {t for t in targets if t in graph and t not in packages and t != m}
             for m, targets in graph.items() if m not in packages}
    circles, index, low, stack, number = [], {}, {}, [], [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = number[0]
        number[0] += 1
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            found = []
            while not found or found[-1] != node:
                found.append(stack.pop())
            if len(found) > 1:
                circles.append(sorted(found))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_modules_import_each_other_in_a_circle():
    assert import_circles(SOURCES) == []


def test_the_circle_check_catches_a_circle():
    """The check itself can fail: a module importing one that imports it back (only for type
    checking) is a circle."""
    first, second = PACKAGE / "engine" / "_probe_a.py", PACKAGE / "engine" / "_probe_b.py"
    first.write_text("from . import _probe_b\n")
    second.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from ._probe_a import x\n")
    try:
        found = import_circles([first, second])
    finally:
        first.unlink()
        second.unlink()
    assert found == [["mig.engine._probe_a", "mig.engine._probe_b"]]


@pytest.mark.parametrize("folder, source, expected", [
    ("disk", "from ..engine import runner\n", "layer 4 above 3"),
    ("engine", "def f():\n    from ..commands import migrate\n", "layer 6 above 4"),
    ("yoyo", "from ..config import Settings\n", "layer 2 above 1"),
    ("seeds", "from ..lint import lint\n", "stay apart"),
    ("cli", "from ..engine.connect import connect\n", "calls verbs"),
])
def test_the_layer_check_catches_a_wrong_import(folder, source, expected):
    """The check itself can fail: a module written against the table is reported."""
    probe = PACKAGE / folder / "_architecture_probe.py"
    probe.write_text(source)
    try:
        (found,) = wrong_imports([probe])
    finally:
        probe.unlink()
    assert expected in found and "_architecture_probe.py" in found


@pytest.mark.parametrize("source, expected", [
    ("from ..engine.connect import _ensure_database\n", "mig.engine.connect._ensure_database"),
    ("from ..engine import connect\nconnect._read_password_file\n", "connect._read_password_file"),
])
def test_the_private_name_check_catches_a_reach(source, expected):
    probe = PACKAGE / "commands" / "_architecture_probe.py"
    probe.write_text(source)
    try:
        (found,) = private_uses([probe])
    finally:
        probe.unlink()
    assert found.endswith(expected)


def test_the_cli_has_one_module_per_module_of_the_verbs():
    """docs/architecture.md: mig.cli mirrors mig.commands, module for module."""
    verbs = {p.stem for p in (PACKAGE / "commands").glob("*.py")} - {"__init__"}
    shells = {p.stem for p in (PACKAGE / "cli").glob("*.py")}
    assert verbs and verbs - shells == set()


def test_every_command_is_in_the_cli_module_its_lookup_table_names():
    """LazyGroup.modules names the module that registers each command (imported on first use:
    a wrong name would leave the command unknown), and each such module mirrors a module of
    mig.commands (or is the fleet shell)."""
    import importlib

    from mig.cli import LazyGroup, cli

    assert LazyGroup.modules
    for command, module in LazyGroup.modules.items():
        importlib.import_module(f"mig.cli.{module}")
        assert cli.commands[command].callback.__module__ == f"mig.cli.{module}", command
        assert (PACKAGE / "commands" / f"{module}.py").is_file(), module


# -- yoyo: imported, and its private names read, in mig/yoyo/ alone --------------------------
YOYO_PACKAGE = PACKAGE / "yoyo"


def yoyo_imports(paths: list[Path]) -> list[str]:
    """Every import of yoyo (``import yoyo...``, ``from yoyo... import``, lazy ones too) in
    ``paths`` outside ``mig/yoyo/``, the one package that touches it."""
    wrong = []
    for path in paths:
        if YOYO_PACKAGE in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            wrong += [f"{path.relative_to(REPO)}:{node.lineno}: {name}"
                      for name in names if name.split(".")[0] == "yoyo"]
    return wrong


def test_only_the_yoyo_package_imports_yoyo():
    assert yoyo_imports(SOURCES) == []


@pytest.mark.parametrize("folder, source, expected", [
    ("engine", "from yoyo.backends.core.postgresql import PostgresqlBackend\n",
     "1: yoyo.backends.core.postgresql"),
    ("disk", "def f():\n    import yoyo.migrations\n", "2: yoyo.migrations"),
    ("commands", "def f():\n    from yoyo import step\n", "2: yoyo"),
])
def test_the_yoyo_import_check_catches_an_import(folder, source, expected):
    """The check itself can fail: yoyo imported outside its package is reported, file and
    line; mig's own ``from ..yoyo import`` is not."""
    probe = PACKAGE / folder / "_architecture_probe.py"
    probe.write_text("from ..yoyo import steps\n" + source)
    try:
        (found,) = yoyo_imports([probe])
    finally:
        probe.unlink()
    line, name = expected.split(": ")
    assert found.endswith(f"_architecture_probe.py:{int(line) + 1}: {name}")


def _defined(node: ast.AST) -> str | None:
    """The name ``node`` defines or assigns (a def, a class, a variable, an attribute)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
        return node.attr
    return None


def _is_private(name: str) -> bool:
    """``_x``; of the ``__dunder__`` names only yoyo's own hooks (``__yoyo_collector__``):
    ``__depends__`` and ``__transactional__`` are the documented migration-file API. A class's
    ``__x`` counts in its mangled form (see :func:`yoyo_private_names`)."""
    if name.startswith("__") and name.endswith("__"):
        return "yoyo" in name
    return name.startswith("_") and len(name) > 1 and not name.startswith("__")


@functools.cache
def yoyo_private_names() -> frozenset[str]:
    """Every private name yoyo's modules define or assign, read from the installed package:
    ``_x`` names, yoyo's dunder hooks, and ``_Class__x`` for a class's ``__x``."""
    root = Path(yoyo.__file__).parent
    names: set[str] = set()
    for path in root.rglob("*.py"):
        if "tests" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = _defined(node)
            if name is not None and _is_private(name):
                names.add(name)
            if isinstance(node, ast.ClassDef):  # __x inside class C is _C__x outside it
                names |= {f"_{node.name.lstrip('_')}{inner}" for sub in ast.walk(node)
                          if (inner := _defined(sub)) and inner.startswith("__")
                          and not inner.endswith("__")}
    return frozenset(names)


def yoyo_private_uses(paths: list[Path], exempt: Path | None = YOYO_PACKAGE) -> list[str]:
    """Every place in ``paths`` (but ``exempt``) that reaches a private name of yoyo's: an
    attribute, a string naming one (``getattr(step, "_apply")``, a globals lookup), a method or
    class attribute of the same name (overriding or imitating it), or an import of one."""
    private = yoyo_private_names()
    wrong = []
    for path in paths:
        if exempt is not None and exempt in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        members = {id(m) for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
                   for m in c.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                     ast.AnnAssign, ast.Assign))}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(node) in members:
                names = [node.name]
            elif isinstance(node, (ast.AnnAssign, ast.Assign)) and id(node) in members:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "yoyo":
                names = [alias.name for alias in node.names]
            else:
                continue
            wrong += [f"{path.relative_to(REPO)}:{node.lineno}: {name}"
                      for name in names if name in private]
    return wrong


def test_only_the_yoyo_package_reaches_yoyos_private_names():
    assert yoyo_private_uses(SOURCES) == []


def test_the_private_names_are_read_from_yoyo():
    """The names the adapter reads are among those derived from yoyo's source (a yoyo release
    that renames one shows here), and the check finds each of them where they are used."""
    package = sorted(YOYO_PACKAGE.glob("*.py"))
    found = {line.rsplit(": ", 1)[1] for line in yoyo_private_uses(package, exempt=None)}
    assert {"_apply", "_rollback", "_Migration__all_migrations", "_internal_schema_updated",
            "__yoyo_collector__"} <= found


@pytest.mark.parametrize("source, expected", [
    ("def f(step):\n    return step._apply\n", "2: _apply"),
    ("def f(step):\n    return getattr(step, '_rollback', None)\n", "2: _rollback"),
    ("from yoyo.migrations import Migration\nMigration._Migration__all_migrations\n",
     "2: _Migration__all_migrations"),
    ("def f(backend):\n    backend._internal_schema_updated = True\n",
     "2: _internal_schema_updated"),
    ("def f(frame):\n    return frame.f_globals.get('__yoyo_collector__')\n",
     "2: __yoyo_collector__"),
    ("from yoyo.migrations import _get_collector\n", "1: _get_collector"),
    ("class Backend:\n    def _do_begin(self):\n        pass\n", "2: _do_begin"),
    ("class Statement:\n    _rollback: str\n", "2: _rollback"),
])
def test_the_yoyo_check_catches_a_reach(source, expected):
    """The check itself can fail: a module reaching into yoyo is reported, file and line."""
    probe = PACKAGE / "engine" / "_architecture_probe.py"
    probe.write_text(source)
    try:
        (found,) = yoyo_private_uses([probe])
    finally:
        probe.unlink()
    assert found.endswith(f"_architecture_probe.py:{expected}")
