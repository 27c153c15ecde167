"""Atomic file and folder writes: a reader sees the old version or the new one, never half of one.

Every write goes to a temporary name beside the target and is renamed over it once
complete (a rename within one folder is atomic). A writer killed mid-write (SIGKILL, out
of memory) leaves only its temporary files behind, named after the host and process that
made them::

    .<name>.tmp.<host>.<pid>.<random>.tmp    a file being written
    .<name>.partial.<host>.<pid>.<random>/   a folder being filled
    .<name>.old.<host>.<pid>.<random>/       the previous folder, moved aside for the swap

The next write of the same target (or :func:`recover`) removes those whose process is no
longer running on this host, first putting back a previous version that a killed swap
had moved aside. Leftovers of other hosts (a shared file system) are left alone: their
writer may still be running.

Failures that mean the output cannot be written (disk full, read-only file system, no
permission, a file where a folder should be) become :class:`WriteError`, which names the
target; the temporary files are removed and the old version stays as it was.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hyperret_eval.core.errors import WriteError

PREVIOUS = "previous"  # inside an ``.old`` folder: the version being replaced
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                           errno.ENOTDIR, errno.EISDIR, errno.EEXIST})


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    On any exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    with _named_write_errors(target):
        _prepare(target)
        fd, tmp_name = tempfile.mkstemp(prefix=_prefix(target, "tmp"), suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        _as_if_created(tmp, 0o666)
        try:
            yield tmp
            _sync(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: Path, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_with(target: Path, writer: Callable[[Path], None]) -> None:
    """Let a library's own writer (``writer(path)``) produce ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


def write_directory(target: Path, fill: Callable[[Path], None]) -> None:
    """Build a directory with ``fill(tmp)`` beside ``target``, then swap it into place.

    The new directory is complete (and on disk) before it takes the name; the old one is
    renamed away first and deleted after, so at every moment ``target`` is either the old
    version or the new one (or, between the two renames, absent, with the old one in an
    ``.old`` folder beside it, which :func:`recover` puts back).
    """
    target = Path(target)
    with _named_write_errors(target):
        _prepare(target)
        staging = Path(tempfile.mkdtemp(prefix=_prefix(target, "partial"), dir=target.parent))
        _as_if_created(staging, 0o777)
        try:
            fill(staging)
            for file in (p for p in staging.rglob("*") if p.is_file() and not p.is_symlink()):
                _sync(file)
            _swap_in(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def staging_folder(target: Path) -> Path:
    """A new empty ``.partial`` folder beside ``target`` (see the module docstring) for a
    caller that fills it and renames it into place itself, removing it on failure; what
    killed writers of ``target`` left behind is tidied first."""
    target = Path(target)
    with _named_write_errors(target):
        _prepare(target)
        staging = Path(tempfile.mkdtemp(prefix=_prefix(target, "partial"), dir=target.parent))
        _as_if_created(staging, 0o777)
    return staging


def check_writable_folder(folder: Path, setting: str) -> None:
    """Fail now, not after hours of work, if nothing can be written under ``folder``.

    Creates nothing: the nearest existing ancestor must be a writable folder. ``setting``
    (an option or environment variable) tells the user what to change.
    """
    folder = Path(folder)
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise WriteError(folder, f"{existing} is a file, not a folder (see {setting})")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WriteError(folder, f"{existing} is not writable (see {setting})")


def recover(target: Path) -> None:
    """Tidy what killed writers left beside ``target`` (see the module docstring): put
    back a previous version that a killed swap had moved aside, and delete their
    temporary files. Writers still running, or on another host, are left alone."""
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|partial|old)\.([A-Za-z0-9_-]+)\.(\d+)\.[^.]+(\.tmp)?")
    try:
        entries = sorted(target.parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _may_be_running(match[2], int(match[3])):
            continue
        previous = entry / PREVIOUS
        if match[1] == "old" and previous.exists() and not target.exists():
            os.replace(previous, target)
        recover(entry)  # a nested write (into a staging folder) leaves its own leftovers beside it
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _as_if_created(path: Path, mode: int) -> None:
    """Give a temporary file or folder the permissions a plain ``open``/``mkdir`` would
    have: ``mkstemp`` and ``mkdtemp`` make them private (0600/0700) whatever the umask, and
    the rename would keep that (a web server could not read a fresh leaderboard)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(mode & ~umask)


def _prefix(target: Path, kind: str) -> str:
    return f".{target.name}.{kind}.{_HOST}.{os.getpid()}."


def _may_be_running(host: str, pid: int) -> bool:
    if host != _HOST or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _nearest_existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _prepare(target: Path) -> None:
    blocking = _nearest_existing(target.parent)
    if not blocking.is_dir():
        raise WriteError(target, f"{blocking} is a file, not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)


def _sync(path: Path) -> None:
    """Flush a written file to disk (where a full disk or quota often shows up)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _swap_in(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=_prefix(target, "old"), dir=target.parent))
    os.replace(target, old / PREVIOUS)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old / PREVIOUS, target)
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _named_write_errors(target: Path) -> Iterator[None]:
    """Turn an OS error that means "cannot write here" into a :class:`WriteError` naming ``target``."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        reason = exc.strerror or str(exc)
        # Our temporary files' names mean nothing to the user; a folder that blocks does.
        ours = exc.filename and any(part.startswith(f".{target.name}.") for part in Path(str(exc.filename)).parts)
        if exc.filename and not ours:
            reason += f": {exc.filename}"
        raise WriteError(target, reason) from exc
