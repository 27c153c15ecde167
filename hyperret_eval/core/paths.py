"""Where data, caches and results live.

Every location can be chosen on the command line; otherwise an environment variable;
otherwise a default that works from a fresh clone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hyperret_eval.core.errors import UserError

DATA_ENV = "HYPERRET_DATA"
CACHE_ENV = "HYPERRET_CACHE"
RESULTS_ENV = "HYPERRET_RESULTS"


def default_cache_root() -> Path:
    """``$HYPERRET_CACHE``, else ``$XDG_CACHE_HOME/hyperret-eval``, else ``~/.cache/hyperret-eval``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hyperret-eval"


def resolve_data_root(cli_value: str | Path | None = None) -> Path:
    """The data root: ``--data-root``, else ``$HYPERRET_DATA``, else ``<cache root>/data``.

    Datasets downloaded when online land here too, so one folder holds everything. The
    path is made absolute but its links are kept, so messages name the path the user gave
    (what is read is checked where it is read, links resolved).
    """
    if cli_value:
        return _absolute(Path(cli_value))
    if os.environ.get(DATA_ENV):
        return _absolute(Path(os.environ[DATA_ENV]))
    return _absolute(default_cache_root() / "data")


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path.expanduser()))


def resolve_results_dir(cli_value: str | Path | None = None) -> Path:
    """Where `run` writes results and `publish` reads them: ``--output-dir``, else
    ``$HYPERRET_RESULTS``, else ``<cache root>/results``. That default is outside any
    checkout, and mteb reads it as its own results folder:
    ``mteb.ResultCache(cache_path=<cache root>)``, as mteb keeps ``~/.cache/mteb/results``."""
    if cli_value:
        return Path(cli_value).expanduser().resolve()
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV]).expanduser().resolve()
    return (default_cache_root() / "results").resolve()


_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def one_component(name: object, what: str) -> str:
    """``name`` if, joined to a folder, it names an entry of that folder: a non-empty
    string without ``/``, ``\\`` or NUL, and not ``.`` or ``..``. Names read from files
    (a result's model and revision) become paths; anything else would lead elsewhere."""
    if not isinstance(name, str) or not name or name in {".", ".."} or any(c in name for c in "/\\\0"):
        raise UserError(f"{what} {name!r} is not a safe name: it must be one path component "
                        "(no '/', '\\' or NUL, not '.' or '..')")
    return name


def safe_name(name: object, what: str) -> str:
    """:func:`one_component`, and only letters, digits, ``.``, ``_`` and ``-``: for names
    this project makes folders from (a recipe's ``name``)."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        one_component(name, what)
        raise UserError(f"{what} {name!r} is not a safe name: use letters, digits, '.', '_' and '-'")
    return one_component(name, what)


def inside(root: Path, path: Path | str, what: str) -> Path:
    """``root / path`` with symlinks resolved, if it lies within ``root`` (resolved too);
    otherwise a UserError naming ``what``. An absolute ``path``, a ``..`` or a symlink
    leading out all fail here."""
    root = Path(root).resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise UserError(f"{what} leads outside {root} (to {target}); refusing to read or write there")
    return target
