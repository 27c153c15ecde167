"""Teacher scores for margin-MSE: a ``query-id  doc-id  score`` file, tab-separated, with an
optional header line."""

from __future__ import annotations

from pathlib import Path

from hyperret_eval.core.errors import DataFormatError
from hyperret_eval.data.textfile import numbered_lines


def read_teacher_scores(path: Path) -> dict[tuple[str, str], float]:
    scores = {}
    for number, line in numbered_lines(path):
        if not line.strip() or line.startswith("query-id"):
            continue
        parts = line.split("\t")
        try:
            scores[(parts[0], parts[1])] = float(parts[2])
        except (IndexError, ValueError):
            raise DataFormatError(path, number, "expected query-id, doc-id and a numeric score, tab-separated") from None
    return scores
