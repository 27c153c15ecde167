"""``index.html``: one self-contained page (inline CSS and JS, nothing fetched), readable
from disk.

Python writes the tables and the run details as HTML, every string from a result file
through :func:`html.escape`; the page's script only sorts those tables and draws the
charts from a JSON copy of the data, building its elements with ``textContent``.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from hyperret_eval.leaderboard.tables import Row, Section, percent, runs_of

BODY_MARKER = "<!--LEADERBOARD_BODY-->"
DATA_MARKER = "<!--LEADERBOARD_DATA-->"


def render_page(sections: list[Section], benchmarks: dict[str, Any] | None) -> str:
    template = resources.files("hyperret_eval.leaderboard").joinpath("template.html").read_text(encoding="utf-8")
    body = "\n".join([
        "<h1>hyperret-eval leaderboard</h1>",
        '<p class="note">Main scores x100, as MTEB shows them. Click a column header to sort; click a model '
        "for the checkpoint, command, package versions and hardware behind its scores. An average is shown "
        "only for a model evaluated on every task of its table.</p>",
        *(_section(section) for section in sections),
        "" if sections else '<p class="note">No results have been published yet.</p>',
        _tradeoff_section(benchmarks),
    ])
    return template.replace(BODY_MARKER, body).replace(DATA_MARKER, script_json(_page_data(sections, benchmarks)))


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no ``<``, ``>`` or ``&`` appears in it,
    so no string can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _page_data(sections: list[Section], benchmarks: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "sections": [
            {
                "task_type": section.task_type,
                "title": section.title,
                "tasks": section.tasks,
                "rows": [{"model": r.model, "revision": r.revision, "scores": r.scores, "average": r.average}
                         for r in section.rows],
            }
            for section in sections
        ],
        "benchmarks": benchmarks,
    }


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _section(section: Section) -> str:
    headers = [
        '<th scope="col" data-type="text"><button type="button">Model</button></th>',
        '<th scope="col" data-type="text"><button type="button">Revision</button></th>',
        *(f'<th scope="col" class="num" data-type="number"><button type="button">{_e(task)}</button></th>'
          for task in section.tasks),
        '<th scope="col" class="num" data-type="number"><button type="button">Average</button></th>',
    ]
    rows = [_row(section, row, order) for order, row in enumerate(section.rows)]
    anchor = _e(section.task_type)
    return "\n".join([
        f'<section id="section-{anchor}">',
        f"<h2>{_e(section.title)} <small>({_e(section.metric)} x100)</small></h2>",
        f'<table class="board" id="board-{anchor}">',
        "<thead><tr>" + "".join(headers) + "</tr></thead>",
        "<tbody>", *rows, "</tbody>",
        "</table>",
        f"<h3>{_e(section.metric)} x100 per task</h3>",
        f'<div class="charts" id="charts-{anchor}"></div>',
        "</section>",
    ])


def _score_cell(value: float | None, css: str = "num") -> str:
    data_value = "" if value is None else repr(value)
    return f'<td class="{css}" data-value="{data_value}">{percent(value)}</td>'


def _row(section: Section, row: Row, order: int) -> str:
    cells = [
        f'<td class="model" data-value="{_e(row.model)}"><details><summary>{_e(row.model)}</summary>'
        f"{_provenance(row)}</details></td>",
        f'<td data-value="{_e(row.revision)}">{_e(row.revision)}</td>',
        *(_score_cell(row.scores.get(task)) for task in section.tasks),
        _score_cell(row.average, "num average"),
    ]
    return f'<tr data-order="{order}">' + "".join(cells) + "</tr>"


def _provenance(row: Row) -> str:
    """Where the row's scores came from: the checkpoint, then each run that produced some."""
    first = row.entries[0]["provenance"]
    checkpoint = first["checkpoint"]
    parts = ['<div class="provenance"><dl>', _item("Revision", row.revision), _item("Source", first["source"])]
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
            f"<h3>Run {_e(manifest)}</h3><dl>",
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


def _tradeoff_section(benchmarks: dict[str, Any] | None) -> str:
    points = (benchmarks or {}).get("search_tradeoff") or []
    parts = ['<section id="search">', "<h2>Search speed and quality</h2>"]
    if not points:
        parts.append('<p class="note" id="no-benchmarks">No search benchmark has been published yet '
                     "(publish one with <code>hyperret-eval publish --benchmarks FILE</code>).</p>")
    else:
        parts += [
            '<p class="note">Exhaustive against graph search: queries per second against recall@10 of the '
            "exhaustive ranking, one point per setting.</p>",
            '<div id="tradeoff-chart"></div>',
            "<table><thead><tr><th>Corpus</th><th>Method</th><th>Settings</th><th class=\"num\">Queries/s</th>"
            '<th class="num">Recall@10</th><th class="num">nDCG@10</th></tr></thead><tbody>',
            *(f"<tr><td>{_e(p['corpus'])}</td><td>{_e(p['method'])}</td><td>{_e(p['settings'])}</td>"
              f'<td class="num">{p["queries_per_second"]:.1f}</td><td class="num">{percent(p["recall_at_10"])}</td>'
              f'<td class="num">{percent(p["ndcg_at_10"])}</td></tr>' for p in points),
            "</tbody></table>",
        ]
    parts.append("</section>")
    return "\n".join(parts)
