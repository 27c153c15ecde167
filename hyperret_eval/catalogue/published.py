"""Published figures (papers, MTEB's results), each with its source, to set beside ours.

The figures live in ``published.toml`` beside this module, one ``[[figure]]`` each; see
its header for the fields. A figure names the model as our results name it, the tasks
(several are pooled over their queries, as the Hypencoder paper pools TREC-DL 2019 and
2020) and the result key it compares with. :func:`ours_for` computes our figure for it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from hyperret_eval.core.errors import UserError

_FIELDS = {"model": str, "tasks": list, "metric": str, "value": float, "source": str, "checked": str}


@dataclass(frozen=True)
class PublishedFigure:
    model: str
    tasks: tuple[str, ...]
    metric: str
    value: float  # a fraction, as our result files hold scores
    source: str  # the paper or page, and where in it
    checked: str  # how it was checked, and any disagreement

    @property
    def task_label(self) -> str:
        return "+".join(self.tasks)


def parse_figures(text: str, origin: str) -> tuple[PublishedFigure, ...]:
    try:
        entries = tomllib.loads(text).get("figure", [])
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{origin}: not valid TOML ({exc})") from None
    figures = []
    for number, entry in enumerate(entries, start=1):
        where = f"{origin}: figure {number}"
        if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
            raise UserError(f"{where}: needs exactly the fields {', '.join(_FIELDS)}")
        for key, kind in _FIELDS.items():
            if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
                raise UserError(f"{where}: {key} must be {kind.__name__}")
        if not entry["tasks"] or not all(isinstance(t, str) for t in entry["tasks"]):
            raise UserError(f"{where}: tasks must be a non-empty list of task names")
        if not 0.0 <= entry["value"] <= 1.0:
            raise UserError(f"{where}: value {entry['value']} is not a fraction between 0 and 1")
        figures.append(PublishedFigure(entry["model"], tuple(entry["tasks"]), entry["metric"], entry["value"],
                                       entry["source"], entry["checked"]))
    return tuple(figures)


@cache
def published_figures() -> tuple[PublishedFigure, ...]:
    """Every figure of the packaged table."""
    text = resources.files("hyperret_eval.catalogue").joinpath("published.toml").read_text(encoding="utf-8")
    return parse_figures(text, "hyperret_eval/catalogue/published.toml")


def figures_for(models: set[str], tasks: set[str]) -> list[PublishedFigure]:
    """The figures of any of ``models`` whose tasks are all among ``tasks``."""
    return [f for f in published_figures() if f.model in models and set(f.tasks) <= tasks]


def ours_for(figure: PublishedFigure, results: dict[str, tuple[dict[str, Any], int]]) -> float | None:
    """Our value for ``figure`` from ``results`` (task -> (scores, number of queries or
    pairs)): the task's score, or for several tasks their mean weighted by queries, which
    is the mean over the pooled queries of a per-query measure. None when a task or the
    metric is missing."""
    parts = [results.get(task) for task in figure.tasks]
    if any(part is None or not isinstance(part[0].get(figure.metric), (int, float)) for part in parts):
        return None
    if len(parts) == 1:
        return float(parts[0][0][figure.metric])
    total = sum(size for _, size in parts)
    return sum(scores[figure.metric] * size for scores, size in parts) / total if total else None
