"""Progress bars for our own long loops (training, encoding into the cache, downloads,
searches) that a log can hold.

On a terminal a bar is tqdm's, redrawn in place. When stderr goes to a file or a pipe,
tqdm would still redraw it with carriage returns, a few times a second, which a log keeps
as one endless line; there the same bar is written as plain lines instead, at most one
every :data:`LOG_INTERVAL_SECONDS` and one at the end. The libraries' own bars are turned
off where ours stand for them (:func:`silence_library_bars`).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

LOG_INTERVAL_SECONDS = 30.0


class _LogLines:
    """A stream for tqdm that turns each redraw into one line of the log under it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self._stream.write(line + "\n")

    def flush(self) -> None:
        self._stream.flush()


def progress_bar(iterable: Any = None, **options: Any):
    """``tqdm(iterable, **options)``, drawn in place on a terminal (or in a notebook), as
    plain lines in a log."""
    from tqdm.auto import tqdm as terminal_tqdm  # here: tqdm.auto looks for IPython, which costs startup time
    from tqdm.std import tqdm as plain_tqdm

    stream = options.pop("file", None) or sys.stderr
    if options.get("disable") or _draws_in_place(stream):
        return terminal_tqdm(iterable, file=stream, **options)
    return plain_tqdm(iterable, file=_LogLines(stream), mininterval=LOG_INTERVAL_SECONDS,
                      maxinterval=LOG_INTERVAL_SECONDS, dynamic_ncols=False, ncols=100, **options)


def _draws_in_place(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


def silence_library_bars() -> None:
    """Turn off the bars datasets and transformers draw (``map``, ``Loading weights``,
    ``Writing model shards``), which a run or a training replaces by its own.
    transformers' switch turns off huggingface_hub's download bars too: a run resolves
    (downloads) its models before this; a training downloading a hub backbone shows none."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
