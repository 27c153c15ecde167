"""Terminal tables: scores of a run, and the catalogue of tasks and models."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from hyperret_eval.catalogue.models import model_names
from hyperret_eval.catalogue.tasks import load_catalogue


def score_table(scores) -> Table:
    """Main score (x100) per task (rows) and model (columns), with an average per task type."""
    models = list(dict.fromkeys(s.model for s in scores))
    tasks = list(dict.fromkeys((s.task, s.task_type) for s in scores))
    by_cell = {(s.model, s.task): s.main_score for s in scores}
    table = Table(title="Main scores x100", caption="STS: cosine Spearman; retrieval: nDCG@10")
    table.add_column("task", no_wrap=True)
    for model in models:
        table.add_column(model, justify="right")
    for task, _ in tasks:
        table.add_row(task, *(_fmt(by_cell.get((m, task))) for m in models))
    for task_type in dict.fromkeys(t for _, t in tasks):
        names = [task for task, t in tasks if t == task_type]
        if len(names) < 2:
            continue
        averages = []
        for model in models:
            values = [by_cell[(model, n)] for n in names if (model, n) in by_cell]
            averages.append(_fmt(sum(values) / len(values) if values else None))
        table.add_row(f"[bold]{task_type} average ({len(names)})[/bold]", *averages, end_section=False)
    return table


def senteval_table(reports: dict[str, dict]) -> Table:
    """The papers' protocol: Spearman x100, pooled "all" per STS year, test for STS-B/SICK-R."""
    models = list(reports)
    tasks = list(next(iter(reports.values()))["tasks"])
    table = Table(title="SentEval protocol (SimCSE/HiCL papers)", caption="Spearman x100 of cosine; STS12-16: 'all' setting")
    table.add_column("task", no_wrap=True)
    for model in models:
        table.add_column(model, justify="right")
    for task in tasks:
        table.add_row(task, *(f"{reports[m]['tasks'][task]['all']:.2f}" for m in models))
    table.add_row("[bold]Avg.[/bold]", *(f"{reports[m]['avg']:.2f}" for m in models))
    return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def task_table(data_root: Path) -> Table:
    table = Table(title=f"Tasks (data root: {data_root})")
    for column in ("task", "type", "groups", "main score"):
        table.add_column(column, no_wrap=True)
    table.add_column("data present", overflow="fold")

    for spec in load_catalogue().values():
        table.add_row(
            spec.name,
            spec.type,
            ",".join(spec.groups),
            spec.main_score,
            "yes" if spec.is_available(data_root) else f"no ({spec.source.path})",
        )
    return table


def model_table() -> Table:
    table = Table(title="Models (also accepted: a local sentence-transformers directory, or a hub id org/name)")
    table.add_column("name")
    table.add_column("what")
    for key, description in model_names().items():
        table.add_row(key, description)
    return table
