"""The name mig is installed by and the version it reports: one name in setup.cfg, in every
install line of the docs, in every hint the code prints, and in ``mig --version``."""

from __future__ import annotations

import configparser
import re

import pytest

from mig.about import DISTRIBUTION, VERSION
from tests.support import REPO, run_mig

# `pip install 'NAME[extra]'` or `pip install NAME` (not the `-e '.[...]'` of a checkout)
INSTALL = re.compile(r"pip install (?:--[a-z-]+ )*'?([A-Za-z0-9_.\-]+)(?:\[[a-z,]+\])?'?")


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg


def _install_lines() -> list[tuple[str, str]]:
    """(where, distribution) of every ``pip install`` from an index in the docs and the code."""
    files = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "mig").rglob("*.py")]
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in INSTALL.finditer(line):
                if match.group(1) != "-e":
                    found.append((f"{path.relative_to(REPO)}:{number}", match.group(1)))
    return found


def test_the_distribution_has_a_name_of_its_own():
    cfg = _setup_cfg()
    assert cfg.get("metadata", "name") == DISTRIBUTION != "mig"  # 'mig' on PyPI is another project
    assert cfg.get("metadata", "version") == "attr: mig.about.VERSION"
    # the command and the import package keep their name
    assert re.search(r"^\s*mig = mig\.cli:main$", cfg.get("options.entry_points",
                                                           "console_scripts"), re.M)


def test_every_install_line_installs_the_distribution():
    lines = _install_lines()
    mig_lines = [(where, name) for where, name in lines
                 if name.split("[")[0] in ("mig", DISTRIBUTION)]
    assert len(mig_lines) >= 8  # docs/testing.md, adopt.md, lint.md, cli.md, hints in code
    wrong = [f"{where}: {name}" for where, name in mig_lines if name != DISTRIBUTION]
    assert wrong == []


@pytest.mark.parametrize("option", ["-V", "--version"])
def test_version_is_this_codes_whatever_is_installed(tmp_path, option):
    result = run_mig([option], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mig {VERSION} (the {DISTRIBUTION} distribution)"


def test_nothing_reads_the_metadata_of_a_distribution_called_mig():
    """``mig`` on PyPI is another project: its metadata, where installed, is not this code's."""
    found = []
    for folder in ("mig", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if re.search(r"""(version|metadata|distribution)\(\s*["']mig["']""", text) or \
                    re.search(r"""package_name\s*=\s*["']mig["']""", text) or \
                    re.search(r"""for pkg in \(\s*["']mig["']""", text):
                found.append(str(path.relative_to(REPO)))
    assert found == []


def test_the_version_is_written_in_one_place():
    # Every other place reads mig.about.VERSION: setup.cfg, mig --version, mig.__version__,
    # the keys of the caches (the seed cache, the template cache, the head-check cache).
    written = [f"{path.relative_to(REPO)}:{number}"
               for path in [*(REPO / "mig").rglob("*.py"), REPO / "setup.cfg"]
               for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if VERSION in line or re.search(r"""^\s*(__version__|VERSION)\s*=\s*["']""", line)]
    assert written == ["mig/about.py:15"]
    import mig

    assert mig.__version__ == VERSION
