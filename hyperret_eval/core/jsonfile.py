"""Reading a file that someone else wrote (JSON, TOML, any settings file): bounded, and
failing with a message. The one reader every such file goes through.

Model configs, result files, ``model_meta.json``, recipes and task files come from
outside. A path may name a FIFO (opening it blocks until a writer comes), a device such as
``/dev/zero`` (``stat`` says 0 bytes, reading never ends) or a file of any size; Python's
``json`` and ``tomllib`` read any nesting (until a RecursionError) and ``json`` integers
of thousands of digits (until a ValueError); code that walks the value afterwards may
recurse too. Here only regular files are read (opened without blocking, checked on the
open descriptor), the size limit is checked on the bytes actually read, nesting depth and
integer length are bounded, and each failure is one message naming the file (and the
line, when there is one).
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperret_eval.core.errors import UserError

MAX_BYTES = 64 * 1024 * 1024  # a tokenizer.json of a large multilingual vocabulary is ~20 MB
MAX_DEPTH = 64  # our own files nest 6 deep; model configs fewer than 10
MAX_INT_DIGITS = 40  # counts, sizes and ids fit in 64 bits (20 digits); transformers writes an unbounded
# tokenizer's model_max_length as int(1e30), 31 digits


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_regular(path: Path, what: str, error: Callable[[str], UserError] = UserError) -> None:
    """``error`` unless ``path`` (after links) is a regular file; nothing is opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    _refuse_irregular(path, mode, what, error)


def _refuse_irregular(path: Path, mode: int, what: str, error: Callable[[str], UserError]) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise error(f"{path}: the {what} is {kind}, not a regular file; refusing to read it")


def open_regular(path: Path, what: str, error: Callable[[str], UserError] = UserError):
    """``path`` opened for reading in binary, if it is a regular file (after links);
    otherwise ``error(message)`` naming it and what it is. The open never blocks: a FIFO
    is opened non-blocking, seen for what it is on the descriptor, and closed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        _refuse_irregular(path, os.fstat(fd).st_mode, what, error)
    except BaseException:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: Path, what: str, error: Callable[[str], UserError] = UserError,
               max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``: the limit is checked on what is
    read (at most one byte more), not on what ``stat`` says."""
    with open_regular(Path(path), what, error) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise error(f"{path}: the {what} is more than the {max_bytes} bytes allowed")
    return data


def read_text(path: Path, what: str, error: Callable[[str], UserError] = UserError,
              max_bytes: int = MAX_BYTES) -> str:
    """:func:`read_bytes` decoded as UTF-8 (a leading byte-order mark dropped)."""
    data = read_bytes(path, what, error, max_bytes)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: the {what} is not UTF-8 text ({exc.reason} at byte {exc.start + 1})") from None


def read_json(path: Path, what: str, error: Callable[[str], UserError] = UserError,
              max_bytes: int = MAX_BYTES) -> Any:
    """The value a JSON file holds; ``error(message)`` (naming ``path``, the ``what``) if it is
    not a regular file, unreadable, too big, not UTF-8, not JSON, nested deeper than
    :data:`MAX_DEPTH` or holds an integer longer than :data:`MAX_INT_DIGITS` digits."""
    return parse_json(read_text(path, what, error, max_bytes), f"{path}", what, error)


def read_toml(path: Path, what: str, error: Callable[[str], UserError] = UserError,
              max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """The table a TOML file holds, with the bounds of :func:`read_json`."""
    return parse_toml(read_text(path, what, error, max_bytes), f"{path}", what, error)


def parse_toml(text: str, where: str, what: str, error: Callable[[str], UserError] = UserError) -> dict[str, Any]:
    """:func:`read_toml` on text already read; ``where`` names it in messages."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: the {what} is not valid TOML ({exc})") from None
    except RecursionError:
        raise error(f"{where}: the {what} is nested too deeply") from None
    check_depth(value, where, what, error)
    return value


def check_depth(value: Any, where: str, what: str, error: Callable[[str], UserError] = UserError) -> None:
    """``error`` if lists and mappings nest in ``value`` more than :data:`MAX_DEPTH` levels
    (for values parsed by other readers: YAML)."""
    if _depth(value) > MAX_DEPTH:
        raise error(f"{where}: the {what} is nested more than {MAX_DEPTH} levels deep")


def parse_json(text: str, where: str, what: str, error: Callable[[str], UserError] = UserError) -> Any:
    """:func:`read_json` on text already read; ``where`` names it in messages."""
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise error(f"{where}, line {exc.lineno}, column {exc.colno}: the {what} is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise error(f"{where}: the {what} is nested too deeply") from None
    except ValueError as exc:
        raise error(f"{where}: the {what} holds {exc}") from None
    check_depth(value, where, what, error)
    return value


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits)} digits (at most {MAX_INT_DIGITS} are allowed)")
    return int(digits)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
