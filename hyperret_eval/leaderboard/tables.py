"""The leaderboard's tables, independent of how they are drawn: one section per task
type (STS, BEIR retrieval), one column per task, one row per model@revision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperret_eval.catalogue.tasks import TaskSpec

SECTION_TITLES = {"STS": "STS", "Retrieval": "BEIR"}
SECTION_METRICS = {"STS": "cosine Spearman", "Retrieval": "nDCG@10"}


@dataclass(frozen=True)
class Row:
    model: str
    revision: str
    scores: dict[str, float]  # task -> main score (a fraction)
    average: float | None  # over the section's tasks; None unless the row has them all
    entries: list[dict[str, Any]]  # the leaderboard entries behind the row, in task order


@dataclass(frozen=True)
class Section:
    task_type: str
    title: str
    metric: str
    tasks: list[str]
    rows: list[Row]


def build_sections(entries: list[dict[str, Any]], catalogue: dict[str, TaskSpec]) -> list[Section]:
    """Sections in catalogue order (STS first); rows best average first, incomplete ones last."""
    order = {name: i for i, name in enumerate(catalogue)}
    sections = []
    for task_type in SECTION_TITLES:
        typed = [e for e in entries if e["task_type"] == task_type]
        if not typed:
            continue
        tasks = sorted({e["task"] for e in typed}, key=lambda t: (order.get(t, len(order)), t))
        by_model: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for entry in typed:
            by_model.setdefault((entry["model"], entry["revision"]), []).append(entry)
        rows = []
        for (model, revision), group in by_model.items():
            group.sort(key=lambda e: tasks.index(e["task"]))
            scores = {e["task"]: e["main_score"] for e in group}
            average = sum(scores.values()) / len(scores) if len(scores) == len(tasks) else None
            rows.append(Row(model, revision, scores, average, group))
        rows.sort(key=lambda r: (r.average is None, -(r.average or 0.0), r.model, r.revision))
        sections.append(Section(task_type, SECTION_TITLES[task_type], SECTION_METRICS[task_type], tasks, rows))
    return sections


def runs_of(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Entries grouped by the run (manifest) that produced them, in first-seen order."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        runs.setdefault(entry["provenance"]["run"]["manifest"], []).append(entry)
    return runs


def model_entries(sections: list[Section]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every model@revision of the leaderboard with all its entries, across sections."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for section in sections:
        for row in section.rows:
            found.setdefault((row.model, row.revision), []).extend(row.entries)
    return found


def percent(value: float | None) -> str:
    """A score as MTEB shows it: x100, two decimals; a dash when absent."""
    return "–" if value is None else f"{100 * value:.2f}"
