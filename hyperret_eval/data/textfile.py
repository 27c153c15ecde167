"""Line-numbered reading of text files, so parse errors can name the line; and the
sha256 of the very bytes parsed, so a run records what it evaluated, not what a second
read of the file (changed meanwhile) would give."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from hyperret_eval.core.errors import DataFormatError
from hyperret_eval.core.jsonfile import open_regular

_BOM = "\ufeff"
_recorder: ContextVar[dict[Path, str] | None] = ContextVar("read_digests", default=None)


@contextmanager
def recording_digests() -> Iterator[dict[Path, str]]:
    """Within the block, each file :func:`numbered_lines` reads to its end has the sha256 of
    the bytes read recorded in the yielded dict, by resolved path."""
    digests: dict[Path, str] = {}
    token = _recorder.set(digests)
    try:
        yield digests
    finally:
        _recorder.reset(token)


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line_without_newline)`` for a UTF-8 file, 1-based.

    A byte-order mark at the start (editors on Windows add one) is dropped, so that a
    header or the first JSON object still reads as written. Only a regular file is read (a
    FIFO would block: :func:`~hyperret_eval.core.jsonfile.open_regular`).
    """
    digest = hashlib.sha256()
    with open_regular(Path(path), "data file") as fh:
        for number, raw in enumerate(fh, start=1):
            digest.update(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(path, number, f"not valid UTF-8 ({exc.reason}, byte {exc.start + 1} of the line)") from None
            if number == 1:
                line = line.removeprefix(_BOM)
            yield number, line.rstrip("\r\n")
    recorder = _recorder.get()
    if recorder is not None:
        recorder[Path(path).resolve()] = digest.hexdigest()
