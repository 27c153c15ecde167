"""``README.md`` of the leaderboard folder: the score tables and where each score came from."""

from __future__ import annotations

from typing import Any

from hyperret_eval.leaderboard.benchmarks import tradeoff_series
from hyperret_eval.leaderboard.tables import (
    SIGNIFICANCE_NOTE, Comparison, PublishedRow, Row, Section, model_entries, parameter_count, percent, points,
    runs_of,
)

CAVEAT_MARK = "†"

# Characters that Markdown (or the HTML GitHub renders inside it) would read as syntax.
_ESCAPES = {"\\": "\\\\", "|": "\\|", "*": "\\*", "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]",
            "<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": " ", "\r": " "}


def escape(text: Any) -> str:
    """Text from a result file as a literal inside a Markdown table cell."""
    return "".join(_ESCAPES.get(char, char) for char in str(text))


def render_readme(sections: list[Section], benchmarks: dict[str, Any] | None,
                  published: list[PublishedRow] | None = None) -> str:
    lines = [
        "# Leaderboard",
        "",
        "Written by `hyperret-eval publish` from `leaderboard.json`; do not edit by hand.",
        "Scores are main scores x100, as MTEB shows them. An average is given only for a model",
        "evaluated on every task of its table. Open `index.html` for sortable tables, charts and",
        "the details of every run.",
    ]
    if not sections:
        lines += ["", "No results have been published yet."]
    for section in sections:
        lines += ["", f"## {section.title} ({section.metric} x100)", ""]
        lines += _score_table(section)
        lines += _caveat_notes(section)
        lines += _comparison_table(section)
    if published:
        lines += ["", "## Published figures beside ours (x100)", ""]
        lines += _published_table(published)
    lines += ["", "## Models", ""]
    lines += _models_table(sections)
    lines += ["", "## Provenance", ""]
    lines += _provenance_table(sections)
    lines += ["", "## Search speed and quality", "",
              "A setting is on the Pareto front when no other setting of its corpus and kind of search",
              "(the settings up to the first comma) is both faster and finds more of the exhaustive top 10.", ""]
    lines += _tradeoff_table(benchmarks)
    return "\n".join(lines) + "\n"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _task_name(section: Section, task: str) -> str:
    return escape(task) + (f" {CAVEAT_MARK}" if task in section.caveats else "")


def _caveat_notes(section: Section) -> list[str]:
    return [line for task, caveat in section.caveats.items()
            for line in ("", f"{CAVEAT_MARK} {escape(task)}: {escape(caveat)}")]


def _score_table(section: Section) -> list[str]:
    header = ["Model", "Revision", *(_task_name(section, t) for t in section.tasks), "Average"]
    align = ["---", "---", *(["---:"] * (len(section.tasks) + 1))]
    lines = [_row(header), _row(align)]
    for row in section.rows:
        scores = [percent(row.scores.get(task)) for task in section.tasks]
        lines.append(_row([escape(row.model), escape(row.revision), *scores, percent(row.average)]))
    return lines


def _comparison_table(section: Section) -> list[str]:
    """Each model's difference to the baseline's score on each task, in points."""
    if section.baseline is None:
        return []
    base = section.baseline
    header = ["Model", "Revision", *(_task_name(section, t) for t in section.tasks)]
    lines = ["", f"Difference to the baseline, {escape(base.model)}@{escape(base.revision)}, in points, with its "
             f"95% interval; {SIGNIFICANCE_NOTE}", "",
             _row(header), _row(["---", "---", *(["---:"] * len(section.tasks))])]
    for row in section.rows:
        if row.is_baseline:
            continue
        cells = [_difference(row.comparisons[t]) if t in row.comparisons else "–" for t in section.tasks]
        lines.append(_row([escape(row.model), escape(row.revision), *cells]))
    return lines


def _difference(comparison: Comparison) -> str:
    """``+2.15* [+0.80, +3.50]``: the difference, its mark and interval (no test: the difference alone)."""
    if comparison.test is None:
        return points(comparison.difference)
    mark = "\\*" if comparison.significant else ""  # an escaped asterisk: not emphasis
    return f"{points(comparison.difference)}{mark} [{points(comparison.test.low)}, {points(comparison.test.high)}]"


def _published_table(published: list[PublishedRow]) -> list[str]:
    """Each published figure beside our score of the same model, task and metric (tasks
    joined by + pooled over their queries); a paper's baseline we have no checkpoint of,
    for reference."""
    lines = ["Difference = ours - published, in points. Each figure's source and how it was checked: "
             "`hyperret_eval/catalogue/published.toml`.", "",
             _row(["Model", "Revision", "Task", "Metric", "Ours", "Published", "Difference", "Source"]),
             _row(["---", "---", "---", "---", "---:", "---:", "---:", "---"])]
    for row in published:
        difference = "–" if row.difference is None else points(row.difference)
        model = escape(row.model) if row.model else f"{escape(row.figure.model)} (reference)"
        lines.append(_row([model, escape(row.revision or "–"), escape(row.figure.task_label),
                           escape(row.figure.metric), percent(row.ours), percent(row.figure.value), difference,
                           escape(row.figure.source)]))
    return lines


def _models_table(sections: list[Section]) -> list[str]:
    """What each model's model_meta.json says: its size, training data and reference."""
    header = ["Model", "Revision", "Parameters", "Trained on (of its tasks)", "Reference"]
    lines = [_row(header), _row(["---", "---", "---:", "---", "---"])]
    rows: dict[tuple[str, str], Row] = {}
    tasks: dict[tuple[str, str], list[str]] = {}
    for section in sections:
        for row in section.rows:
            rows.setdefault((row.model, row.revision), row)
            tasks.setdefault((row.model, row.revision), []).extend(row.scores)
    for key, row in rows.items():
        info = row.info
        zero_shot = row.zero_shot(tasks[key])
        trained = "not declared" if zero_shot is None else escape(", ".join(row.trained_on(tasks[key])) or "none")
        lines.append(_row([escape(row.model), escape(row.revision), parameter_count(info.n_parameters if info else None),
                           trained, escape(info.reference) if info and info.reference else "–"]))
    return lines


def _provenance_table(sections: list[Section]) -> list[str]:
    """One row per model@revision and run: where its scores on those tasks came from."""
    header = ["Model", "Revision", "Source", "Checkpoint", "Run", "Started", "Device", "Tasks", "Command"]
    lines = [_row(header), _row(["---"] * len(header))]
    for (model, revision), entries in model_entries(sections).items():
        for manifest, run_entries in runs_of(entries).items():
            provenance = run_entries[0]["provenance"]
            run = provenance["run"]
            checkpoint = provenance["checkpoint"] or {}
            lines.append(_row([
                escape(model), escape(revision), escape(provenance["source"]),
                escape(checkpoint.get("fingerprint") or "–"), escape(manifest), escape(run["started_at"]),
                escape(run["device"].get("device", "?")), escape(", ".join(e["task"] for e in run_entries)),
                escape(run["command"]),
            ]))
    return lines


def _tradeoff_table(benchmarks: dict[str, Any] | None) -> list[str]:
    if not benchmarks or not benchmarks.get("search_tradeoff"):
        return ["No search benchmark has been published yet."]
    header = ["Corpus", "Method", "Settings", "Queries/s", "Recall@10", "nDCG@10", "On the Pareto front"]
    lines = [_row(header), _row(["---", "---", "---", "---:", "---:", "---:", "---"])]
    for series in tradeoff_series(benchmarks["search_tradeoff"]):
        for point in series.points:
            on_front = "yes" if any(point is p for p in series.front) else "no"
            lines.append(_row([
                escape(point["corpus"]), escape(point["method"]), escape(point["settings"]),
                f"{point['queries_per_second']:.1f}", percent(point["recall_at_10"]), percent(point["ndcg_at_10"]),
                on_front,
            ]))
    return lines
