"""yoyo's reader of ``yoyo.ini`` (includes, ``%(here)s``, interpolation), without the rest
of yoyo.

Importing ``yoyo`` itself pulls in its database backends and SQL parser (tens of
milliseconds); the reader needs only the standard library, and every mig command reads the
ini, so its module (``yoyo/config.py``) is loaded on its own, by file path, unchanged.
"""

from __future__ import annotations

import configparser
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_NAME = "_mig_yoyo_config"


def _module() -> ModuleType:
    """yoyo's ``config`` module, loaded once, without importing the ``yoyo`` package."""
    if _NAME not in sys.modules:
        spec = importlib.util.find_spec("yoyo")
        assert spec is not None and spec.submodule_search_locations
        path = Path(list(spec.submodule_search_locations)[0]) / "config.py"
        module_spec = importlib.util.spec_from_file_location(_NAME, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        sys.modules[_NAME] = module
    return sys.modules[_NAME]


def read(path: Path) -> configparser.ConfigParser:
    """``path`` read as yoyo reads it: its includes followed, its values interpolated.

    :raises Exception: what configparser raises for a file (or one it includes) that cannot
        be parsed or interpolated, or yoyo's error for includes that include each other.
    """
    parser: configparser.ConfigParser = _module().read_config(str(path))
    return parser
