"""mig: safe PostgreSQL schema migrations, seed data and test databases on top of yoyo.

The public API, for scripts and other tools (the CLI calls the same functions)::

    import mig

    settings = mig.resolve(database="postgresql://mig@db/app")
    mig.apply(settings)
    mig.seed(settings, env="dev")
    print(mig.status(settings).to_json())

Names are loaded on first use, so that ``import mig`` (and every ``mig`` command) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .about import VERSION
from .errors import (
    BadMigrationFile,
    BaselineRefused,
    CannotUndo,
    ChecksumMismatch,
    ConfigError,
    ConnectionLost,
    DatabaseUnavailable,
    DataMigrationError,
    LockTimeout,
    MigError,
    MigrationError,
    NeedsConfirmation,
    NotAtHead,
    Refused,
    RollbackMismatch,
    SchemaDrift,
    SeedError,
    ServerError,
    StatementFailed,
    Unfinished,
    VerificationFailed,
)
from .lazy import exports, public

if TYPE_CHECKING:
    from .commands import (
        apply,
        database_url,
        new,
        repair,
        require_head,
        rollback,
        seed,
        status,
        stop_embedded,
        verify,
        wait,
    )
    from .config import InsecureTLSWarning, Settings, UnknownSettingWarning, resolve

__version__ = VERSION  # mig.about: the one place the version is written

_WHERE = {
    "apply": "commands",
    "rollback": "commands",
    "status": "commands",
    "seed": "commands",
    "new": "commands",
    "repair": "commands",
    "wait": "commands",
    "require_head": "commands",
    "database_url": "commands",
    "stop_embedded": "commands",
    "Settings": "config",
    "InsecureTLSWarning": "config",
    "UnknownSettingWarning": "config",
    "resolve": "config",
    "verify": "commands",
}

__all__ = [
    "BadMigrationFile",
    "BaselineRefused",
    "CannotUndo",
    "ChecksumMismatch",
    "ConfigError",
    "ConnectionLost",
    "DataMigrationError",
    "DatabaseUnavailable",
    "LockTimeout",
    "MigError",
    "MigrationError",
    "NeedsConfirmation",
    "NotAtHead",
    "Refused",
    "RollbackMismatch",
    "SchemaDrift",
    "SeedError",
    "ServerError",
    "StatementFailed",
    "Unfinished",
]
__all__ += public(_WHERE)  # the lazy names: the table is their one list

__getattr__, __dir__ = exports(__name__, _WHERE, __all__)
