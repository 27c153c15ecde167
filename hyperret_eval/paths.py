"""Where data, caches and results live.

Every location can be chosen on the command line; otherwise an environment variable;
otherwise a default that works from a fresh clone.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "HYPERRET_DATA"
CACHE_ENV = "HYPERRET_CACHE"


def default_cache_root() -> Path:
    """``$HYPERRET_CACHE``, else ``$XDG_CACHE_HOME/hyperret-eval``, else ``~/.cache/hyperret-eval``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hyperret-eval"


def resolve_data_root(cli_value: str | Path | None = None) -> Path:
    """The data root: ``--data-root``, else ``$HYPERRET_DATA``, else ``<cache root>/data``.

    Datasets downloaded when online land here too, so one folder holds everything.
    """
    if cli_value:
        return Path(cli_value).expanduser().resolve()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser().resolve()
    return (default_cache_root() / "data").resolve()
