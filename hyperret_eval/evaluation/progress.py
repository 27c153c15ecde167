"""What a run shows while it works: one bar per model x task on a terminal, plain lines
when its output goes to a file or a pipe, nothing with ``--quiet``.

The libraries underneath draw bars of their own (sentence-transformers' ``Batches`` per
encode call, mteb's corpus chunks, datasets' ``map``, transformers' ``Loading weights``),
dozens per task, which a log file keeps as one line of carriage returns. A run turns
those off (:func:`hyperret_eval.core.bars.silence_library_bars`, and ``show_progress_bar=False`` to mteb and the
encoders) and counts the texts its model encodes instead (:mod:`encode_counter`), so
each model x task is one bar, or a handful of lines.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

MODES = ("bars", "lines", "quiet")
LINE_STEPS = 4  # lines mode: a line at each quarter of a task's texts


def mode_for(quiet: bool, stream: TextIO) -> str:
    """``quiet`` when asked, ``bars`` when ``stream`` (where bars are drawn) is a terminal,
    else ``lines``."""
    if quiet:
        return "quiet"
    return "bars" if stream.isatty() else "lines"


class TaskProgress:
    """The progress of one model x task: ``advance(n)`` as texts are encoded, ``done()`` at the end."""

    def __init__(self, label: str, total: int, unit: str, say: Callable[[str], None] | None, bar) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.count = 0
        self._say = say
        self._bar = bar
        self._started = time.perf_counter()
        self._next_step = 1

    def advance(self, n: int) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
        while self._say is not None and self.total and self._next_step < LINE_STEPS \
                and self.count * LINE_STEPS >= self._next_step * self.total:
            self._say(f"{self.label}: {min(self.count, self.total):,}/{self.total:,} {self.unit} "
                      f"({100 * self._next_step // LINE_STEPS}%), {self.elapsed:.0f} s")
            self._next_step += 1

    def done(self, summary: str = "") -> None:
        """The task finished: the bar is completed (texts served from a cache were never
        encoded) and ``summary`` (the score) shown beside it."""
        if self._bar is not None:
            self._bar.update(max(self.total - self._bar.n, 0))
            if summary:
                self._bar.set_postfix_str(summary, refresh=False)
        if self._say is not None:
            self._say(f"{self.label}: done in {self.elapsed:.1f} s" + (f", {summary}" if summary else ""))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started


class Progress:
    """Where messages and task progress go, as ``mode`` says (:data:`MODES`).

    ``say`` prints one line (the command line's console); bars are drawn on ``bar_stream``.
    Notes (a skipped dataset, a warning) are said in every mode, ``--quiet`` included;
    step messages (loading a model) are not said when quiet.
    """

    def __init__(self, mode: str = "lines", say: Callable[[str], None] = print, bar_stream: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown progress mode {mode!r}; expected one of {MODES}")
        self.mode = mode
        self._say = say
        self._bar_stream = bar_stream

    def message(self, text: str) -> None:
        if self.mode != "quiet":
            self._say(text)

    def note(self, text: str) -> None:
        self._say(text)

    @contextmanager
    def task(self, label: str, total: int, unit: str = "texts", detail: str = "") -> Iterator[TaskProgress]:
        """Progress of one model x task over ``total`` units; ``detail`` says what they are."""
        bar = None
        if self.mode == "bars":
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=label, unit=f" {unit}", file=self._bar_stream or sys.stderr,
                       dynamic_ncols=True, leave=True)
        elif self.mode == "lines":
            self._say(f"{label}: {detail + ', ' if detail else ''}{total:,} {unit} to encode")
        progress = TaskProgress(label, total, unit, self._say if self.mode == "lines" else None, bar)
        try:
            yield progress
        finally:
            if bar is not None:
                bar.close()


QUIET = Progress("quiet", say=lambda text: None)  # ranks other than 0 under torchrun say nothing
