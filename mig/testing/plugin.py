"""The pytest plugin: a migrated, seeded PostgreSQL database for every test, in milliseconds.

Registered with the package (entry point ``pytest11``, name ``mig``; ``-p no:mig`` turns it
off). Importing it is cheap: servers, templates and database drivers load when a fixture first
needs them. Fixtures and settings are described in ``docs/testing.md``.

``mig_db`` takes its database from a warm pool (``pool.py``): clones made ahead of the tests,
dropped in the background. Under pytest-xdist every worker creates its own databases (its own
pool) on one shared server, and the template is built once (the first worker to need it builds
it; the others wait on its lock). The embedded server is started by the first worker that
needs it and stopped by the controlling process once all workers are done; a Docker container
is started by the controlling process and its URL handed to the workers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import options as _options

if TYPE_CHECKING:
    from .database import Database
    from .pool import Pool
    from .servers import Server
    from .template import Template

KEPT_PROPERTY = "mig_kept_database"
_STATE = pytest.StashKey["_State"]()
_DATABASES = pytest.StashKey[list]()
_SAME_AS_SESSION: Any = object()


class _State:
    """What the plugin knows about this session, in this process; its hooks act on it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.embedded_dirs: set[str] = set()  # servers to stop at the end
        self.kept: dict[tuple[str, str], None] = {}  # (test id, masked URL), in order
        self.owned: Server | None = None  # started by this process for the workers
        self.error: str | None = None  # why starting it failed
        self.problems: list[str] = []  # for the summary
        self._settings: _options.TestSettings | None = None

    @property
    def settings(self) -> _options.TestSettings:
        if self._settings is None:
            self._settings = _options.resolve(self.config)
        return self._settings

    def pytest_report_header(self) -> str:
        origin = (self.settings.origins or {}).get("mig_server", "default")
        return f"mig: test databases on the {self.settings.server} server ({origin})"

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not _is_controller(self.config) or self.config.option.collectonly:
            return
        from .servers import DOCKER, docker

        try:
            if self.settings.check().server == DOCKER:
                self.owned = docker(self.settings.docker_image)
        except Exception as exc:  # handed to the workers: each test using a database says it
            self.error = str(exc)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.owned is not None:
            node.workerinput["mig_server_url"] = self.owned.maintenance_url
        if self.error is not None:
            node.workerinput["mig_server_error"] = self.error

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self.embedded_dirs.update(output.get("mig_embedded_dirs", []))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed and report.when in ("setup", "call"):
            for name, value in report.user_properties:
                if name == KEPT_PROPERTY:
                    self.kept[(report.nodeid, str(value))] = None

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if _is_worker(self.config):
            output = self.config.workeroutput  # type: ignore[attr-defined]
            output["mig_embedded_dirs"] = sorted(self.embedded_dirs)
            return
        from ..errors import MigError
        from .servers import stop_embedded

        for datadir in sorted(self.embedded_dirs):
            try:
                stop_embedded(Path(datadir), keep_data=bool(self.kept))
            except MigError as exc:  # said in the summary; the tests' outcome stands
                self.problems.append(f"could not stop the server of {datadir}: {exc}")
        if self.owned is not None:
            self.owned.stop()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        for problem in self.problems:
            tr.write_line(f"mig: {problem}", yellow=True)
        if not self.kept:
            return
        tr.section("mig: databases kept for inspection")
        for nodeid, url in self.kept:
            tr.write_line(f"{nodeid}: {url}")
        for datadir in sorted(self.embedded_dirs):
            tr.write_line(f"the embedded server's data is kept in {datadir}; start it with: "
                          f"python -c \"from mig.server import LocalServer; "
                          f"print(LocalServer('{datadir}').start().url())\"")


def _state(config: pytest.Config) -> _State:
    return config.stash[_STATE]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("dsession")


def _project_dir(config: pytest.Config) -> Path:
    from ..config import find_config

    ini = find_config(config.rootpath)
    return ini.parent if ini is not None else config.rootpath


# -- hooks -----------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's command-line options and ini keys (docs/testing.md)."""
    _options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the session's state, which owns the server and the templates."""
    state = _State(config)
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "mig-session")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's databases are kept, their URLs added to its report."""
    report = yield
    fresh = [db for db in item.stash.get(_DATABASES, []) if not db.keep]
    if fresh and report.failed and report.when in ("setup", "call"):
        lines = []
        for db in fresh:
            db.keep = True
            # the report has its own copy; the item's shows in later reports (and junit XML)
            report.user_properties.append((KEPT_PROPERTY, db.masked_url))
            item.user_properties.append((KEPT_PROPERTY, db.masked_url))
            lines.append(db.masked_url)
        lines.append(_inspect_hint(fresh[0]))
        title = "mig: kept the database of this failed test"
        addsection = getattr(report.longrepr, "addsection", None)
        if addsection is not None:  # in the failure's own report, whatever --show-capture says
            addsection(title, "\n".join(lines))
        else:
            report.sections.append((title, "\n".join(lines)))
    return report


def _inspect_hint(db: Database) -> str:
    if db.server.datadir is not None:
        return (f"the embedded server stops at the end of the session and keeps its data in "
                f"{db.server.datadir}; the summary says how to start it again")
    return f'drop it when done: DROP DATABASE "{db.name}"'


# -- fixtures --------------------------------------------------------------------------------
@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """mig's errors as their message and hint, without a traceback through mig's code."""
    from ..errors import MigError

    try:
        yield
    except MigError as exc:
        raise pytest.fail.Exception(f"{type(exc).__name__}: {exc}", pytrace=False) from None


@pytest.fixture(scope="session")
def mig_server(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Server]:
    """The PostgreSQL server of the session (``--mig-server``: embedded, url or docker)."""
    from . import servers

    config = pytestconfig
    state = _state(config)
    workerinput = getattr(config, "workerinput", {})
    own = None
    with _reported():
        settings = state.settings.check()
        error = workerinput.get("mig_server_error") or state.error
        if error:
            raise servers.ServerError(error)
        if settings.server == servers.EMBEDDED:
            bindir = servers.server_bin(settings.server_bin, _project_dir(config))
            if bindir is None:
                servers.require_embedded()  # before any folder is made for it
            base = tmp_path_factory.getbasetemp()
            # xdist workers' temporary folders are inside the controller's: one server for all
            datadir = servers.embedded_datadir(base.parent if _is_worker(config) else base)
            state.embedded_dirs.add(str(datadir))  # removed at the end, even if it never starts
            server = servers.embedded(datadir, bindir)
        elif settings.server == servers.URL:
            server = servers.existing(settings.url)
        elif "mig_server_url" in workerinput:
            server = servers.existing(workerinput["mig_server_url"], kind=servers.DOCKER)
        elif state.owned is not None:
            server = state.owned
        else:
            server = own = servers.docker(settings.docker_image)
    yield server
    if own is not None:
        own.stop()
    else:
        server.close()


@pytest.fixture(scope="session")
def mig_template(mig_server: Server, pytestconfig: pytest.Config) -> Template:
    """The project's template database: all migrations applied, seeds loaded (``--mig-seed-env``).

    Named after a hash of the migration files, the seed files and the options; built once
    per server while they are unchanged.
    """
    from .database import project_spec
    from .template import ensure_template

    with _reported():
        spec = project_spec(_project_dir(pytestconfig),
                            seed_env=_state(pytestconfig).settings.seed_env)
        template = ensure_template(mig_server, spec)
    return template


def _track(request: pytest.FixtureRequest, db: Database) -> Database:
    request.node.stash.setdefault(_DATABASES, []).append(db)
    return db


def _release(db: Database) -> None:
    if db.keep:  # its test failed: the database stays for inspection
        db.close_connections()
    else:
        db.drop()


@pytest.fixture(scope="session")
def _mig_pool(mig_template: Template, pytestconfig: pytest.Config) -> Iterator[Pool | None]:
    """The process's warm pool of clones of ``mig_template`` (``None``: mig_pool_size 0)."""
    with _reported():
        size = _state(pytestconfig).settings.pool_limit()
    if size == 0:
        yield None
        return
    from .pool import Pool

    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "")
    pool = Pool(mig_template, size, worker)
    yield pool
    pool.close()


@pytest.fixture
def mig_db(request: pytest.FixtureRequest, mig_template: Template, _mig_pool: Pool | None
           ) -> Iterator[Database]:
    """A database of the test's own, cloned from ``mig_template`` (taken from the warm pool);
    dropped after the test, kept (and its URL printed) when the test fails."""
    if _mig_pool is None:
        from .database import clone_database

        db = _track(request, clone_database(mig_template.server, mig_template,
                                            request.node.name))
        yield db
        _release(db)
        return
    from .pool import keep

    with _reported():
        db = _track(request, _mig_pool.take(request.node.name))
    yield db
    if db.keep:  # its test failed: the database stays for inspection
        keep(db)
    else:
        _mig_pool.give_back(db)


@pytest.fixture(scope="session")
def _mig_transaction_db(mig_template: Template) -> Iterator[Any]:
    from .database import clone_database
    from .transaction import TransactionConnection

    db = clone_database(mig_template.server, mig_template, "transactions")
    holder = TransactionConnection(db.url)
    yield holder
    holder.close()
    db.drop()


@pytest.fixture
def mig_conn(_mig_transaction_db: Any) -> Iterator[Any]:
    """A psycopg2 connection inside a transaction that is rolled back after the test."""
    conn = _mig_transaction_db.get()
    yield conn
    _mig_transaction_db.end_test()


@pytest.fixture
def mig_make_db(request: pytest.FixtureRequest, mig_server: Server,
                pytestconfig: pytest.Config) -> Iterator[Callable[..., Database]]:
    """A factory of databases built differently from ``mig_template``.

    ``mig_make_db(to=..., migrations_dir=..., project_dir=..., seeds_dir=..., seed=...,
    seed_env=...)`` returns a :class:`~mig.testing.Database`; each is dropped after the test
    (kept when it fails). ``seed_env`` defaults to the session's ``--mig-seed-env``.
    """
    from .database import clone_database, project_spec
    from .template import ensure_template

    made: list[Database] = []
    session_env = _state(pytestconfig).settings.seed_env

    def make(*, to: str | None = None, migrations_dir: Any = None, project_dir: Any = None,
             seeds_dir: Any = None, seed: bool | None = None,
             seed_env: str | None = _SAME_AS_SESSION) -> Database:
        if project_dir is None and migrations_dir is None:
            project_dir = _project_dir(pytestconfig)
        with _reported():
            spec = project_spec(
                project_dir, migrations_dir=migrations_dir, seeds_dir=seeds_dir, seed=seed,
                to=to, seed_env=session_env if seed_env is _SAME_AS_SESSION else seed_env)
            template = ensure_template(mig_server, spec)
        db = _track(request, clone_database(mig_server, template, request.node.name))
        made.append(db)
        return db

    yield make
    for db in made:
        _release(db)
