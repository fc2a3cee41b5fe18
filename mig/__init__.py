"""mig: safe PostgreSQL schema migrations, seed data and test databases on top of yoyo."""

from .errors import MigError

__all__ = ["MigError"]
__version__ = "0.1.0"
