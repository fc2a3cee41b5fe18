"""docs/testing.md's examples are run, as written there.

A ```python block that defines tests must be found verbatim in the test files that run them
(its import lines anywhere in the file, the rest as one piece, ending where a test function
ends); a block without tests is a script and is run here as it is. The ini example is the one
tests/test_plugin.py uses, and every fixture and option of the plugin has an example.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap

import mig.testing
from mig.testing import plugin
from mig.testing.options import OPTIONS
from tests.support import REPO, SEED_ENV_INI, query

DOC = REPO / "docs" / "testing.md"
# the files whose tests run the examples: the product's own session, and the sample projects
RUNNERS = [REPO / "tests" / "test_plugin_product.py", REPO / "tests" / "test_plugin.py"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
MIGRATION_ID = re.compile(r"\b\d{8}_\d{6}_\w+")


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of a Markdown text in ``language``, each ending with a newline."""
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) == language]


def split_imports(block: str) -> tuple[list[str], str]:
    """The leading import lines of a code block, and the rest of it."""
    lines = block.splitlines(keepends=True)
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith(("import ", "from "))):
        i += 1
    return [line.rstrip("\n") for line in lines[:i] if line.strip()], "".join(lines[i:])


def found_verbatim(block: str, source: str) -> bool:
    """Whether ``source`` holds ``block``: its imports as lines, the rest as a whole piece
    that starts a line and is followed by the end of the file or an unindented line."""
    imports, body = split_imports(block)
    if not set(imports) <= set(source.splitlines()):
        return False
    start = source.find(body)
    while start != -1:
        rest = source[start + len(body):].splitlines()
        following = next((line for line in rest if line.strip()), "")
        if (start == 0 or source[start - 1] == "\n") and not following.startswith((" ", "\t")):
            return True
        start = source.find(body, start + 1)
    return False


def python_blocks() -> list[str]:
    return code_blocks(DOC.read_text(), "python")


def is_script(block: str) -> bool:
    return not re.search(r"^def test_", block, re.MULTILINE)


def test_the_sync_check_needs_whole_tests_and_their_imports():
    source = "import os\n\n\ndef test_a(x):\n    assert x\n    assert os\n\n\ndef test_b():\n"
    assert found_verbatim("import os\n\n\ndef test_a(x):\n    assert x\n    assert os\n", source)
    assert found_verbatim("def test_b():\n", source)
    assert not found_verbatim("def test_a(x):\n    assert x\n", source)  # a part of a test
    assert not found_verbatim("import sys\n\n\ndef test_b():\n", source)  # an import missing
    assert not found_verbatim("def test_c():\n", source)


def test_every_test_example_is_in_the_tests_that_run_it():
    sources = [path.read_text() for path in RUNNERS]
    tests = [block for block in python_blocks() if not is_script(block)]
    assert len(tests) >= 4
    for block in tests:
        assert any(found_verbatim(block, source) for source in sources), block


def test_every_script_example_runs(pg_server):
    scripts = [block for block in python_blocks() if is_script(block)]
    assert scripts
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
    env.pop("DATABASE_URL", None)
    env["MIG_TEST_URL"] = pg_server.url()
    databases = "SELECT datname FROM pg_database WHERE datname LIKE 'mig\\_test\\_%'"
    before = set(query(pg_server.url(), databases))
    for block in scripts:
        result = subprocess.run([sys.executable, "-c", block], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{block}\n{result.stderr}"
    assert set(query(pg_server.url(), databases)) == before  # each dropped its databases


def literal_block(docstring: str) -> str:
    """The indented block that follows the first ``::`` of a docstring."""
    lines = docstring.split("::\n", 1)[1].splitlines(keepends=True)
    end = next((i for i, line in enumerate(lines) if line.strip() and line[0] != " "),
               len(lines))
    return textwrap.dedent("".join(lines[:end])).strip("\n") + "\n"


def test_the_package_docstring_shows_the_documented_script():
    example = literal_block(inspect.getdoc(mig.testing) or "")
    assert example in [block for block in python_blocks() if is_script(block)]


def test_the_migrations_named_in_examples_exist():
    ids = {path.stem.removesuffix(".rollback") for path in (REPO / "migrations").iterdir()
           if path.suffix in (".sql", ".py")}
    named = set(MIGRATION_ID.findall(DOC.read_text() + (mig.testing.__doc__ or "")))
    assert named and named <= ids, named - ids


def test_every_fixture_has_a_test_example():
    fixtures = set(re.findall(r"^def (mig_\w+)\(", inspect.getsource(plugin), re.MULTILINE))
    assert fixtures == {"mig_server", "mig_template", "mig_db", "mig_conn", "mig_make_db"}
    tests = "".join(block for block in python_blocks() if not is_script(block))
    for name in fixtures:
        assert re.search(rf"^def test_\w+\([^)]*\b{name}\b", tests, re.MULTILINE), name


def test_the_ini_example_is_the_one_the_tests_use_and_every_option_has_an_example():
    (ini,) = code_blocks(DOC.read_text(), "ini")
    assert ini == SEED_ENV_INI
    (commands,) = code_blocks(DOC.read_text(), "sh")
    shown = set(re.findall(r"--mig-[\w-]+|\bMIG_TEST_\w+", commands))
    known = {name for flag, var, _, _ in OPTIONS.values() for name in (flag, var)}
    assert shown <= known, shown - known
    plugin_tests = (REPO / "tests" / "test_plugin.py").read_text()
    for flag, var, _, _ in OPTIONS.values():
        assert flag in shown or var in shown, flag  # each shown on a command line
        assert f'"{flag}"' in plugin_tests, flag  # and given to a sample project by a test
