"""The leaderboard's tables, independent of how they are drawn: one section per task
type (STS, retrieval), one column per task, one row per model@revision, each score set
against a baseline model's on the same task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hyperret_eval.catalogue.published import PublishedFigure, figures_for, ours_for, published_figures
from hyperret_eval.catalogue.tasks import TaskSpec
from hyperret_eval.leaderboard.model_info import ModelInfo
from hyperret_eval.leaderboard.significance import NotComparable, PairedTest, compare, holm

SECTION_TITLES = {"STS": "STS", "Retrieval": "Retrieval"}
SECTION_METRICS = {"STS": "cosine Spearman", "Retrieval": "nDCG@10"}
# The model every other is compared with, on each task it has.
DEFAULT_BASELINE = "sentence-transformers/all-MiniLM-L6-v2"
SIGNIFICANCE_NOTE = ("* marks a difference a paired test finds significant at 5% after Holm's correction across the "
                     "model's tasks of the table (retrieval: a t-test over the queries; STS: a bootstrap over the "
                     "sentence pairs). A difference without an interval has no per-query values to test.")

ModelKey = tuple[str, str]  # model, revision
# A result's per-query file, parsed (model, revision, task -> body), or None when it has none.
PerQuery = Callable[[str, str, str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Comparison:
    """A row's score on one task set against the baseline row's score on it, with the
    paired test of the difference when both results kept their per-query values
    (:mod:`hyperret_eval.leaderboard.significance`; Holm-corrected across the row's tasks
    of the section), else why there is none."""

    difference: float  # the row's score minus the baseline's, a fraction
    test: PairedTest | None = None
    untested: str | None = None  # why there is no test

    @property
    def significant(self) -> bool:
        return bool(self.test and self.test.significant)

    def describe(self) -> str:
        """One line: the interval, p-values and test, or why there is no test."""
        if self.test is None:
            return f"not tested: {self.untested}"
        t = self.test
        return (f"95% interval [{points(t.low)}, {points(t.high)}], p = {t.p_value:.2g} "
                f"(Holm {t.p_holm:.2g}), {t.test}")


@dataclass(frozen=True)
class Row:
    model: str
    revision: str
    scores: dict[str, float]  # task -> main score (a fraction)
    average: float | None  # over the section's tasks; None unless the row has them all
    entries: list[dict[str, Any]]  # the leaderboard entries behind the row, in task order
    info: ModelInfo | None = None  # from the model's model_meta.json
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # task -> against the baseline
    is_baseline: bool = False

    def zero_shot(self, tasks: list[str]) -> bool | None:
        """mteb's zero-shot flag over ``tasks``: False when the model trained on one of
        them, None when it declares no training data, else True."""
        flags = [self.info.zero_shot.get(task) for task in tasks] if self.info else [None]
        if False in flags:
            return False
        return None if None in flags else True

    def trained_on(self, tasks: list[str]) -> list[str]:
        """Those of ``tasks`` the model's declared training data holds."""
        return [task for task in tasks if self.info and self.info.zero_shot.get(task) is False]


@dataclass(frozen=True)
class Section:
    task_type: str
    title: str
    metric: str
    tasks: list[str]
    rows: list[Row]
    baseline: Row | None  # the row every other is compared with; None when the baseline model has none
    caveats: dict[str, str]  # task -> what to know before comparing its scores with others' (catalogue)


def build_sections(entries: list[dict[str, Any]], catalogue: dict[str, TaskSpec],
                   infos: dict[ModelKey, ModelInfo] | None = None, baseline: str = DEFAULT_BASELINE,
                   per_query: PerQuery | None = None) -> list[Section]:
    """Sections in catalogue order (STS first); rows best average first, incomplete ones last.
    ``per_query`` gives each result's per-query values, for the tests against the baseline."""
    order = {name: i for i, name in enumerate(catalogue)}
    sections = []
    for task_type in SECTION_TITLES:
        typed = [e for e in entries if e["task_type"] == task_type]
        if not typed:
            continue
        tasks = sorted({e["task"] for e in typed}, key=lambda t: (order.get(t, len(order)), t))
        rows = _compared(_rows(typed, tasks, infos or {}), baseline, per_query or (lambda *key: None))
        caveats = {task: catalogue[task].caveat for task in tasks if task in catalogue and catalogue[task].caveat}
        base = next((row for row in rows if row.is_baseline), None)
        sections.append(Section(task_type, SECTION_TITLES[task_type], SECTION_METRICS[task_type], tasks, rows,
                                base, caveats))
    return sections


def _rows(entries: list[dict[str, Any]], tasks: list[str], infos: dict[ModelKey, ModelInfo]) -> list[Row]:
    """One row per model@revision, best average first, incomplete ones last."""
    by_model: dict[ModelKey, list[dict[str, Any]]] = {}
    for entry in entries:
        by_model.setdefault((entry["model"], entry["revision"]), []).append(entry)
    rows = []
    for (model, revision), group in by_model.items():
        group.sort(key=lambda e: tasks.index(e["task"]))
        scores = {e["task"]: e["main_score"] for e in group}
        average = sum(scores.values()) / len(scores) if len(scores) == len(tasks) else None
        rows.append(Row(model, revision, scores, average, group, infos.get((model, revision))))
    rows.sort(key=lambda r: (r.average is None, -(r.average or 0.0), r.model, r.revision))
    return rows


def _compared(rows: list[Row], baseline: str, per_query: PerQuery) -> list[Row]:
    """``rows`` with each one's comparisons to the baseline model's first (best) row."""
    base = next((row for row in rows if row.model == baseline), None)
    if base is None:
        return rows
    return [replace(row, is_baseline=True) if row is base else replace(row, comparisons=_against(row, base, per_query))
            for row in rows]


def _against(row: Row, base: Row, per_query: PerQuery) -> dict[str, Comparison]:
    """The row's comparison with the baseline on each task both have; the tests of one row
    Holm-corrected together."""
    tests: dict[str, PairedTest] = {}
    untested: dict[str, str] = {}
    for task in (t for t in row.scores if t in base.scores):
        ours, theirs = per_query(row.model, row.revision, task), per_query(base.model, base.revision, task)
        if ours is None or theirs is None:
            untested[task] = "the result has no per-query values" if ours is None else \
                "the baseline's result has no per-query values"
            continue
        try:
            tests[task] = compare(task, ours, theirs)
        except (NotComparable, KeyError, TypeError, ValueError) as exc:  # a malformed file is one we cannot pair
            untested[task] = str(exc) if isinstance(exc, NotComparable) else f"unreadable per-query values ({exc!r})"
    corrected = dict(zip(tests, holm(list(tests.values()))))
    return {task: Comparison(row.scores[task] - base.scores[task], corrected.get(task), untested.get(task))
            for task in row.scores if task in base.scores}


@dataclass(frozen=True)
class PublishedRow:
    """A published figure and, when a published model@revision has results for all its
    tasks, ours beside it; ``model`` None for a reference figure (a paper's baseline) on
    tasks and a metric where one of ours is compared."""

    figure: PublishedFigure
    model: str | None = None
    revision: str | None = None
    ours: float | None = None

    @property
    def difference(self) -> float | None:
        return None if self.ours is None else self.ours - self.figure.value


def _entry_scores(entry: dict[str, Any]) -> dict[str, float]:
    return {**entry.get("metrics", {}), entry["main_metric"]: entry["main_score"]}


def published_beside(entries: list[dict[str, Any]], per_query: PerQuery | None = None) -> list[PublishedRow]:
    """Each published figure of a model on the leaderboard, with our score beside it (tasks
    pooled over their queries weighted by the queries each per-query file holds); then the
    reference figures of the same tasks and metrics."""
    by_model: dict[ModelKey, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        by_model.setdefault((entry["model"], entry["revision"]), {})[entry["task"]] = entry
    rows = []
    for (model, revision), tasks in by_model.items():
        for figure in figures_for({model}, set(tasks)):
            sizes = {task: len((per_query(model, revision, task) or {}).get("queries") or {}) if per_query else 0
                     for task in figure.tasks}
            if len(figure.tasks) > 1 and not all(sizes.values()):
                continue  # pooling needs each task's query count
            ours = ours_for(figure, {task: (_entry_scores(tasks[task]), sizes[task]) for task in figure.tasks})
            if ours is not None:
                rows.append(PublishedRow(figure, model, revision, ours))
    compared = {(row.figure.tasks, row.figure.metric) for row in rows}
    ours_models = {model for model, _ in by_model}
    rows += [PublishedRow(figure) for figure in published_figures()
             if figure.model not in ours_models and (figure.tasks, figure.metric) in compared]
    return rows


def comparisons_of(sections: list[Section]) -> list[dict[str, Any]]:
    """Every comparison with the baseline, as leaderboard.json lists them."""
    found = []
    for section in sections:
        if section.baseline is None:
            continue
        baseline = f"{section.baseline.model}@{section.baseline.revision}"
        for row in section.rows:
            for task, comparison in row.comparisons.items():
                test = {key: value for key, value in comparison.test.to_dict().items() if key not in ("task", "difference")} \
                    if comparison.test else {"untested": comparison.untested}
                found.append({"model": row.model, "revision": row.revision, "task": task, "baseline": baseline,
                              "difference": comparison.difference, **test})
    return found


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


def points(difference: float) -> str:
    """A difference of scores in the points ``percent`` shows, signed: ``+0.12``, ``-4.80``."""
    return f"{100 * difference:+.2f}"


def parameter_count(n: int | None) -> str:
    """A parameter count as model cards give it: ``22.7M``, ``1.5B``; a dash when unknown."""
    if n is None:
        return "–"
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)
