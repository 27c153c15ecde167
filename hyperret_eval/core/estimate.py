"""Telling the cost of a long run before most of it is spent: the work is counted, a first
sample of it is timed, and one line says how much there is, the rate measured and the time
it will take at that rate. A progress bar then shows the ETA as the run goes."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

LONG_SECONDS = 600.0  # estimates at least this long are logged as warnings, so that they are seen


def duration(seconds: float) -> str:
    """``seconds`` as a person reads it: 45 s, 12.5 min, 3.2 h, 2.1 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class CostEstimate:
    """Counts ``total`` units of work as they are done; once ``sample_seconds`` have passed
    (or the work is done), logs the rate measured so far and the time the rest will take.

    ``what`` names the work ("encoding 8,841,823 passages"), ``unit`` its units.
    """

    def __init__(self, what: str, total: int, unit: str, logger: logging.Logger, sample_seconds: float = 2.0) -> None:
        self.what, self.total, self.unit, self.logger = what, total, unit, logger
        self.sample_seconds = sample_seconds
        self.done = 0
        self.rate: float | None = None
        self.started = time.perf_counter()

    def update(self, units: int) -> None:
        self.done += units
        if self.rate is not None:
            return
        elapsed = time.perf_counter() - self.started
        if elapsed >= self.sample_seconds or self.done >= self.total:
            self.rate = self.done / max(elapsed, 1e-9)
            left = (self.total - self.done) / self.rate
            finish = (datetime.now() + timedelta(seconds=left)).strftime("%H:%M")
            level = logging.WARNING if left >= LONG_SECONDS else logging.INFO
            self.logger.log(level, "%s: %s %s; %.4g %s/s measured on the first %s, so about %s more "
                            "(finishing around %s)", self.what, f"{self.total:,}", self.unit, self.rate, self.unit,
                            f"{self.done:,}", duration(left), finish)
