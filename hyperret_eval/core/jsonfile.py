"""Reading a JSON file that someone else wrote: bounded, and failing with a message.

Model configs, result files, ``model_meta.json`` and recipes come from outside. Python's
``json`` reads any size, any nesting (until a RecursionError) and integers of thousands of
digits (until a ValueError); code that walks the value afterwards may recurse too. Every
such file is read here: size, nesting depth and integer length are bounded, and each
failure is one message naming the file (and the line, when there is one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperret_eval.core.errors import UserError

MAX_BYTES = 64 * 1024 * 1024  # a tokenizer.json of a large multilingual vocabulary is ~20 MB
MAX_DEPTH = 64  # our own files nest 6 deep; model configs fewer than 10
MAX_INT_DIGITS = 40  # counts, sizes and ids fit in 64 bits (20 digits); transformers writes an unbounded
# tokenizer's model_max_length as int(1e30), 31 digits


def read_json(path: Path, what: str, error: Callable[[str], UserError] = UserError,
              max_bytes: int = MAX_BYTES) -> Any:
    """The value a JSON file holds; ``error(message)`` (naming ``path``, the ``what``) if it is
    unreadable, too big, not UTF-8, not JSON, nested deeper than :data:`MAX_DEPTH` or holds
    an integer longer than :data:`MAX_INT_DIGITS` digits."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: the {what} is {size} bytes, more than the {max_bytes} allowed")
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: the {what} is not UTF-8 text ({exc.reason} at byte {exc.start + 1})") from None
    return parse_json(text, f"{path}", what, error)


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
    if _depth(value) > MAX_DEPTH:
        raise error(f"{where}: the {what} is nested more than {MAX_DEPTH} levels deep")
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
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
