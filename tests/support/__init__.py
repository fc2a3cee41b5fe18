"""Helpers shared by the test files, imported as ``from tests.support import ...``.

``project``: migration folders written on the fly, mig run as a real process, queries;
``server``: the test server's databases and password role; ``schema``: the shipped migrations
applied as plain SQL; ``seeds``: scratch schemas and seeding; ``sample``: a small project in
mig's layout for the plugin tests; ``corpus``: real histories of ``../shared/corpus`` as mig
projects. ``REPO`` is the repository's root.
"""

from __future__ import annotations

from .corpus import (
    CORPUS,
    HYDRA,
    SUPABASE_AUTH,
    import_hydra,
    import_supabase_auth,
)
from .lint import (
    LINT_BASE,
    lint_found,
    lint_listed,
)
from .project import (
    CHAIN_OF_THREE,
    REPO,
    TWO_MIGRATIONS,
    copy_shipped_project,
    query,
    run_mig,
    tables,
    wait_for,
    write_project,
)
from .sample import (
    ITEMS,
    SEED_ENV_INI,
    TAGS,
    write_sample,
)
from .schema import (
    MIGRATIONS,
    apply_sql_files,
)
from .seeds import (
    FIXTURES,
    SCRATCH_SCHEMA,
    TEAMS,
    apply_product_schema,
    counts,
    create_scratch_schema,
    execute,
    row_count,
    seed,
    versions,
    write_seeds,
)
from .server import (
    PASSWORD,
    PASSWORD_ROLE,
    PG15_BINDIR,
    create_database,
    drop_database,
)

__all__ = [
    "CORPUS",
    "HYDRA",
    "FIXTURES",
    "ITEMS",
    "LINT_BASE",
    "MIGRATIONS",
    "PASSWORD",
    "PASSWORD_ROLE",
    "PG15_BINDIR",
    "REPO",
    "SCRATCH_SCHEMA",
    "SEED_ENV_INI",
    "SUPABASE_AUTH",
    "TAGS",
    "TEAMS",
    "TWO_MIGRATIONS",
    "apply_product_schema",
    "apply_sql_files",
    "counts",
    "create_database",
    "create_scratch_schema",
    "drop_database",
    "execute",
    "lint_found",
    "lint_listed",
    "import_hydra",
    "import_supabase_auth",
    "query",
    "row_count",
    "run_mig",
    "seed",
    "tables",
    "versions",
    "wait_for",
    "copy_shipped_project",
    "CHAIN_OF_THREE",
    "write_project",
    "write_sample",
    "write_seeds",
]
