"""``README.md`` of the leaderboard folder: the score tables and where each score came from."""

from __future__ import annotations

from typing import Any

from hyperret_eval.leaderboard.tables import Section, model_entries, percent, runs_of

# Characters that Markdown (or the HTML GitHub renders inside it) would read as syntax.
_ESCAPES = {"\\": "\\\\", "|": "\\|", "*": "\\*", "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]",
            "<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": " ", "\r": " "}


def escape(text: Any) -> str:
    """Text from a result file as a literal inside a Markdown table cell."""
    return "".join(_ESCAPES.get(char, char) for char in str(text))


def render_readme(sections: list[Section], benchmarks: dict[str, Any] | None) -> str:
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
    lines += ["", "## Provenance", ""]
    lines += _provenance_table(sections)
    lines += ["", "## Search speed and quality", ""]
    lines += _tradeoff_table(benchmarks)
    return "\n".join(lines) + "\n"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _score_table(section: Section) -> list[str]:
    header = ["Model", "Revision", *(escape(t) for t in section.tasks), "Average"]
    align = ["---", "---", *(["---:"] * (len(section.tasks) + 1))]
    lines = [_row(header), _row(align)]
    for row in section.rows:
        scores = [percent(row.scores.get(task)) for task in section.tasks]
        lines.append(_row([escape(row.model), escape(row.revision), *scores, percent(row.average)]))
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
    header = ["Corpus", "Method", "Settings", "Queries/s", "Recall@10", "nDCG@10"]
    lines = [_row(header), _row(["---", "---", "---", "---:", "---:", "---:"])]
    for point in benchmarks["search_tradeoff"]:
        lines.append(_row([
            escape(point["corpus"]), escape(point["method"]), escape(point["settings"]),
            f"{point['queries_per_second']:.1f}", percent(point["recall_at_10"]), percent(point["ndcg_at_10"]),
        ]))
    return lines
