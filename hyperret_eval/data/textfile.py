"""Line-numbered reading of text files, so parse errors can name the line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hyperret_eval.errors import DataFormatError

_BOM = "\ufeff"


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line_without_newline)`` for a UTF-8 file, 1-based.

    A byte-order mark at the start (editors on Windows add one) is dropped, so that a
    header or the first JSON object still reads as written.
    """
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(path, number, f"not valid UTF-8 ({exc.reason}, byte {exc.start + 1} of the line)") from None
            if number == 1:
                line = line.removeprefix(_BOM)
            yield number, line.rstrip("\r\n")
