"""Errors that reach the user as a message, not a traceback.

Anything raised as a :class:`UserError` is a problem with the user's input (a path,
a name, a file's contents); the CLI prints its message and exits non-zero.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A mistake in what the user gave us, explained in plain words."""

    exit_code = 2


class DataFormatError(UserError):
    """A data file that does not parse; the message names the file and the line."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = Path(path)
        self.line = line
        self.problem = problem


class DataNotFoundError(UserError):
    """A dataset that is neither on disk nor downloadable right now."""


class WriteError(UserError):
    """An output that could not be written: disk full, no permission, a read-only file
    system, a file where a folder should be. Nothing was half-written: the old version of
    the output, if any, is intact."""

    exit_code = 1

    def __init__(self, target: Path | str, reason: str) -> None:
        super().__init__(f"cannot write {target}: {reason}")
        self.target = Path(target)


class HubError(UserError):
    """A Hugging Face hub model that could not be fetched (offline, unreachable, unknown):
    one paragraph naming the model, the reason and what to do instead."""
