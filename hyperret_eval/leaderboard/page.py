"""``index.html``: one self-contained page (inline CSS and JS, nothing fetched), readable
from disk.

Python writes the tables, each model's details and the notes as HTML, every string from a
result file through :func:`html.escape`; the page's script only sorts those tables, opens
the details and draws the charts from a JSON copy of the data, building its elements with
``textContent``. The only addresses in the page are links to a model's own reference
(http or https, see :func:`hyperret_eval.leaderboard.model_info.web_address`); following
one is the reader's choice, the page itself loads nothing.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from hyperret_eval.leaderboard.benchmarks import Series, tradeoff_series
from hyperret_eval.leaderboard.tables import (
    SIGNIFICANCE_NOTE, Comparison, PublishedRow, Row, Section, parameter_count, percent, points, runs_of,
)

BODY_MARKER = "<!--LEADERBOARD_BODY-->"
DATA_MARKER = "<!--LEADERBOARD_DATA-->"
CAVEAT_MARK = "\u2020"  # a dagger after a task's name: read the caveat under the table
SIGNIFICANT_MARK = "*"  # after a difference the paired test finds significant (Holm-corrected, 5%)
ZERO_SHOT = {True: "yes", False: "no", None: "\u2013"}


def render_page(sections: list[Section], benchmarks: dict[str, Any] | None,
                published: list[PublishedRow] | None = None) -> str:
    template = resources.files("hyperret_eval.leaderboard").joinpath("template.html").read_text(encoding="utf-8")
    series = tradeoff_series((benchmarks or {}).get("search_tradeoff") or [])
    body = "\n".join([
        "<h1>hyperret-eval leaderboard</h1>",
        '<p class="note">Main scores x100, as MTEB shows them, each with its difference to the baseline '
        "model's score on the task below it. Click a column header to sort; click a model for its "
        "reference, size, training data and the checkpoint, command, package versions and hardware behind "
        "its scores. An average is shown only for a model evaluated on every task of its table.</p>",
        *(_section(section) for section in sections),
        "" if sections else '<p class="note">No results have been published yet.</p>',
        _published_section(published or []),
        _tradeoff_section(series),
    ])
    return template.replace(BODY_MARKER, body).replace(DATA_MARKER, script_json(_page_data(sections, series)))


def _published_section(published: list[PublishedRow]) -> str:
    """Published figures (papers, MTEB) beside our score of the same model, task and metric."""
    if not published:
        return ""
    rows = []
    for row in published:
        model = _breakable(row.model) if row.model else f"{_breakable(row.figure.model)} (reference)"
        difference = "\u2013" if row.difference is None else points(row.difference)
        revision = row.revision or "\u2013"
        rows.append(f"<tr><td>{model}</td><td>{_e(revision)}</td><td>{_e(row.figure.task_label)}</td>"
                    f"<td>{_e(row.figure.metric)}</td><td class=\"num\">{percent(row.ours)}</td>"
                    f"<td class=\"num\">{percent(row.figure.value)}</td><td class=\"num\">{_e(difference)}</td>"
                    f"<td>{_e(row.figure.source)}</td></tr>")
    return "\n".join([
        '<section id="published"><h2>Published figures beside ours (x100)</h2>',
        '<p class="note">Difference = ours \u2212 published, in points; tasks joined by + are pooled over their '
        "queries. Each figure's source and how it was checked: hyperret_eval/catalogue/published.toml.</p>",
        '<div class="table-scroll"><table><thead><tr><th>Model</th><th>Revision</th><th>Task</th><th>Metric</th>'
        "<th>Ours</th><th>Published</th><th>Difference</th><th>Source</th></tr></thead><tbody>",
        *rows, "</tbody></table></div></section>"])


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no ``<``, ``>`` or ``&`` appears in it,
    so no string can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _page_data(sections: list[Section], series: list[Series]) -> dict[str, Any]:
    return {
        "sections": [
            {
                "task_type": section.task_type,
                "title": section.title,
                "tasks": section.tasks,
                "caveats": section.caveats,
                "baseline": None if section.baseline is None else _name_at(section.baseline),
                "rows": [{"model": r.model, "revision": r.revision, "scores": r.scores, "average": r.average,
                          "baseline": r.is_baseline,
                          "differences": {task: c.difference for task, c in r.comparisons.items()},
                          "tests": {task: {"low": c.test.low, "high": c.test.high, "significant": c.significant,
                                           "describe": c.describe()}
                                    for task, c in r.comparisons.items() if c.test is not None}}
                         for r in section.rows],
            }
            for section in sections
        ],
        "tradeoff": [
            {"label": s.label, "corpus_class": corpus, "kind_class": kind, "points": s.points,
             "front": [i for i, p in enumerate(s.points) if any(p is q for q in s.front)]}
            for s, (corpus, kind) in zip(series, _series_classes(series))
        ],
    }


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _breakable(name: str) -> str:
    """``name`` escaped, with a line break allowed after each ``/`` (an org/model name breaks
    there or at a hyphen, never inside a word)."""
    return "/<wbr>".join(_e(part) for part in name.split("/"))


def _name_at(row: Row) -> str:
    return f"{row.model}@{row.revision}"


# Sections: a table, its caveats, and a chart per task.

def _section(section: Section) -> str:
    anchor = _e(section.task_type)
    rows = [html_row for order, row in enumerate(section.rows) for html_row in _rows(section, row, order)]
    return "\n".join([
        f'<section id="section-{anchor}">',
        f"<h2>{_e(section.title)} <small>({_e(section.metric)} x100)</small></h2>",
        _baseline_note(section),
        '<div class="table-scroll">',
        f'<table class="board sortable" id="board-{anchor}">',
        "<thead><tr>" + "".join(_headers(section)) + "</tr></thead>",
        "<tbody>", *rows, "</tbody>",
        "</table>",
        "</div>",
        *_caveat_notes(section),
        f"<h3>{_e(section.metric)} x100 per task</h3>",
        '<p class="note">Each axis is fitted to the scores on its task; '
        + ("the dashed line marks the baseline's score." if section.baseline else "no baseline model has scores here.")
        + "</p>",
        f'<div class="charts" id="charts-{anchor}"></div>',
        "</section>",
    ])


def _baseline_note(section: Section) -> str:
    if section.baseline is None:
        return '<p class="note">No baseline: the baseline model has no scores in this table.</p>'
    return (f'<p class="note baseline-note">Baseline: <strong>{_breakable(_name_at(section.baseline))}</strong>; '
            "the small number under a score is the difference to its score on the task, in the same points "
            f"(hover for its 95% interval). {_e(SIGNIFICANCE_NOTE)}</p>")


def _headers(section: Section) -> list[str]:
    return [
        '<th scope="col" data-type="text"><button type="button">Model</button></th>',
        *(f'<th scope="col" class="num" data-type="number"><button type="button">{_e(task)}'
          f"{_caveat_mark(section, task)}</button></th>" for task in section.tasks),
        '<th scope="col" class="num" data-type="number"><button type="button">Average</button></th>',
        '<th scope="col" class="num" data-type="number"><button type="button">Parameters</button></th>',
        '<th scope="col" data-type="text" title="mteb\'s zero-shot flag: the training data the model declares '
        'holds none of these tasks (a dash: it declares none)"><button type="button">Zero-shot</button></th>',
    ]


def _caveat_mark(section: Section, task: str) -> str:
    caveat = section.caveats.get(task)
    return f'<sup class="caveat-mark" title="{_e(caveat)}">{CAVEAT_MARK}</sup>' if caveat else ""


def _caveat_notes(section: Section) -> list[str]:
    return [f'<p class="caveat">{CAVEAT_MARK} <strong>{_e(task)}</strong>: {_e(caveat)}</p>'
            for task, caveat in section.caveats.items()]


def _rows(section: Section, row: Row, order: int) -> list[str]:
    """The row of scores and, hidden until its model is clicked, the row of its details
    across the whole table."""
    details_id = f"details-{_e(section.task_type)}-{order}"
    cells = [
        _model_cell(row, details_id),
        *(_score_cell(row.scores.get(task), row.comparisons.get(task)) for task in section.tasks),
        _score_cell(row.average, None, "num average"),
        _parameters_cell(row),
        _zero_shot_cell(section, row),
    ]
    css = "model-row baseline" if row.is_baseline else "model-row"
    return [
        f'<tr class="{css}" data-order="{order}" data-details="{details_id}">' + "".join(cells) + "</tr>",
        f'<tr class="details-row" id="{details_id}" hidden><td colspan="{len(cells)}">'
        f'<div class="details">{_details(section, row)}</div></td></tr>',
    ]


def _model_cell(row: Row, details_id: str) -> str:
    badge = ' <span class="badge">baseline</span>' if row.is_baseline else ""
    return (f'<td class="model" data-value="{_e(row.model)}">'
            f'<button type="button" class="toggle" aria-expanded="false" aria-controls="{details_id}">'
            f'<span class="name">{_breakable(row.model)}</span></button>'
            f'<span class="revision">{_e(row.revision)}{badge}</span></td>')


def _parameters_cell(row: Row) -> str:
    n = row.info.n_parameters if row.info else None
    return f'<td class="num" data-value="{"" if n is None else n}">{parameter_count(n)}</td>'


def _zero_shot_cell(section: Section, row: Row) -> str:
    flag = ZERO_SHOT[row.zero_shot(section.tasks)]
    trained_on = row.trained_on(section.tasks)
    title = f' title="trained on {_e(", ".join(trained_on))}"' if trained_on else ""
    return f'<td data-value="{flag}"{title}>{flag}</td>'


def _score_cell(value: float | None, comparison: Comparison | None, css: str = "num") -> str:
    """A score and, under it, its comparison with the baseline's score on the task."""
    data_value = "" if value is None else repr(value)
    return (f'<td class="{css}" data-value="{data_value}"><span class="score">{percent(value)}</span>'
            f"{_comparison(comparison)}</td>")


def _comparison(comparison: Comparison | None) -> str:
    """The difference to the baseline, marked when the paired test finds it significant;
    the interval and p-values on hover."""
    if comparison is None:
        return ""
    mark = SIGNIFICANT_MARK if comparison.significant else ""
    css = "difference significant" if comparison.significant else "difference"
    return f'<span class="{css}" title="{_e(comparison.describe())}">{points(comparison.difference)}{mark}</span>'


# A model's details: what it is, its scores against the baseline's, where they came from.

def _details(section: Section, row: Row) -> str:
    return "".join([
        '<div class="about">', _model_facts(section, row), _task_table(section, row), "</div>",
        _provenance(row),
    ])


def _model_facts(section: Section, row: Row) -> str:
    info = row.info
    trained_on = row.trained_on(section.tasks)
    unknown = "unknown: the model declares no training data" if info else "unknown: no readable model_meta.json"
    zero_shot = {True: "yes, on every task here", None: unknown,
                 False: f"no: trained on {', '.join(trained_on)}"}[row.zero_shot(section.tasks)]
    parts = ['<dl class="facts">', _item("Model", row.model), _item("Revision", row.revision)]
    if info is None:
        parts.append(_item("Model card", "no readable model_meta.json"))
    else:
        if info.reference:
            parts.append(f'<dt>Reference</dt><dd><a class="reference" href="{_e(info.reference)}" '
                         f'rel="external noreferrer noopener">{_e(info.reference)}</a></dd>')
        parts.append(_item("Parameters", "not declared" if info.n_parameters is None else f"{info.n_parameters:,}"))
        if info.adapted_from:
            parts.append(_item("Adapted from", info.adapted_from))
    parts += [_item("Zero-shot", zero_shot), "</dl>"]
    return "".join(parts)


def _task_table(section: Section, row: Row) -> str:
    """The row's score on each task beside the difference to the baseline's."""
    lines = ['<table class="tasks"><thead><tr><th>Task</th><th class="num">Score</th>'
             '<th class="num">Difference to the baseline</th><th>Paired test</th></tr></thead><tbody>']
    for task in section.tasks:
        comparison = row.comparisons.get(task)
        lines.append(f"<tr><td>{_e(task)}{_caveat_mark(section, task)}</td>"
                     f'<td class="num">{percent(row.scores.get(task))}</td>'
                     f'<td class="num">{_comparison(comparison) or "–"}</td>'
                     f'<td class="test">{_e(comparison.describe()) if comparison else "–"}</td></tr>')
    lines.append("</tbody></table>")
    return "".join(lines)


def _provenance(row: Row) -> str:
    """Where the row's scores came from: the checkpoint, then each run that produced some."""
    first = row.entries[0]["provenance"]
    checkpoint = first["checkpoint"]
    parts = ['<div class="provenance"><dl>', _item("Source", first["source"])]
    if first.get("model_key"):
        parts.append(_item("Model key", first["model_key"]))
    if checkpoint:
        parts.append(_item("Checkpoint", checkpoint.get("fingerprint") or "–"))
        if checkpoint.get("recipe") is not None:
            recipe = json.dumps(checkpoint["recipe"], indent=1, sort_keys=True, ensure_ascii=False)
            parts.append(f"<dt>Recipe</dt><dd><pre>{_e(recipe)}</pre></dd>")
    parts.append("</dl>")
    for manifest, entries in runs_of(row.entries).items():
        run = entries[0]["provenance"]["run"]
        tasks = "".join(f"<li>{_e(e['task'])}: evaluated {_e(e['evaluated_at'] or 'at an unrecorded time')}, "
                        f"data revision {_e(e['dataset_revision'])}</li>" for e in entries)
        packages = ", ".join(f"{name} {version}" for name, version in sorted(run["packages"].items()))
        device = ", ".join(f"{key} {value}" for key, value in run["device"].items())
        parts += [
            f"<h4>Run {_e(manifest)}</h4><dl>",
            _item("Started", run["started_at"]),
            f"<dt>Command</dt><dd><code>{_e(run['command'])}</code></dd>",
            _item("Hardware", device or "not recorded"),
            _item("Packages", packages or "not recorded"),
            _item("mteb", entries[0]["mteb_version"]),
            f"<dt>Tasks</dt><dd><ul>{tasks}</ul></dd>",
            "</dl>",
        ]
    parts.append("</div>")
    return "".join(parts)


def _item(term: str, value: Any) -> str:
    return f"<dt>{_e(term)}</dt><dd>{_e(value)}</dd>"


# Search speed and quality.

def _series_classes(series: list[Series]) -> list[tuple[str, str]]:
    """The CSS classes of each series: its corpus's colour and its kind of search's line."""
    corpora = list(dict.fromkeys(s.corpus for s in series))
    kinds = list(dict.fromkeys(s.kind for s in series))
    return [(f"corpus-{corpora.index(s.corpus)}", f"kind-{kinds.index(s.kind)}") for s in series]


def _tradeoff_section(series: list[Series]) -> str:
    parts = ['<section id="search">', "<h2>Search speed and quality</h2>"]
    if not series:
        parts.append('<p class="note" id="no-benchmarks">No search benchmark has been published yet '
                     "(publish one with <code>hyperret-eval publish --benchmarks FILE</code>).</p>")
    else:
        parts += [
            '<p class="note">Exhaustive against graph search: queries per second against recall@10 of the '
            "exhaustive ranking, one point per setting. A line joins the Pareto front of each corpus and kind "
            "of search, the settings no other setting of that kind beats on both speed and recall; faint "
            "points are beaten.</p>",
            '<div id="tradeoff-chart"></div>',
            '<div class="table-scroll">',
            '<table class="sortable" id="tradeoff-table"><thead><tr>' + "".join(map(_tradeoff_header, _TRADEOFF_COLUMNS))
            + "</tr></thead><tbody>",
            *(_tradeoff_row(s, point, corpus, order)
              for order, (s, corpus, point) in enumerate(_tradeoff_points(series))),
            "</tbody></table>",
            "</div>",
        ]
    parts.append("</section>")
    return "\n".join(parts)


def _tradeoff_points(series: list[Series]) -> list[tuple[Series, str, dict[str, Any]]]:
    """Every point with its series and its corpus's colour class, series by series."""
    return [(s, corpus, point) for s, (corpus, _) in zip(series, _series_classes(series)) for point in s.points]


def _tradeoff_header(column: tuple[str, str]) -> str:
    title, kind = column
    css = ' class="num"' if kind == "number" else ""
    return f'<th scope="col"{css} data-type="{kind}"><button type="button">{_e(title)}</button></th>'


def _parameters(settings: str) -> str:
    """The parameters in ``settings``, after the kind of search (all of it when there are none)."""
    kind, comma, parameters = settings.partition(",")
    return parameters.strip() if comma else kind


_TRADEOFF_COLUMNS = [("Corpus", "text"), ("Search", "text"), ("Settings", "text"), ("Queries/s", "number"),
                     ("Recall@10", "number"), ("nDCG@10", "number"), ("On the front", "text")]


def _tradeoff_row(series: Series, point: dict[str, Any], corpus_class: str, order: int) -> str:
    on_front = "yes" if any(point is p for p in series.front) else "no"
    cells = [
        f'<td data-value="{_e(series.corpus)}"><span class="swatch {corpus_class}"></span>{_e(series.corpus)}</td>',
        f'<td data-value="{_e(series.kind)}">{_e(series.method if series.method == "exhaustive" else series.kind)}</td>',
        f'<td data-value="{_e(point["settings"])}">{_e(_parameters(point["settings"]))}</td>',
        f'<td class="num" data-value="{point["queries_per_second"]!r}">{point["queries_per_second"]:.1f}</td>',
        f'<td class="num" data-value="{point["recall_at_10"]!r}">{percent(point["recall_at_10"])}</td>',
        f'<td class="num" data-value="{point["ndcg_at_10"]!r}">{percent(point["ndcg_at_10"])}</td>',
        f'<td data-value="{on_front}">{on_front}</td>',
    ]
    return f'<tr data-order="{order}">' + "".join(cells) + "</tr>"
