"""Terminal tables: scores of a run, and the catalogue of tasks and models."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hyperret_eval.catalogue.checkpoints import locate_checkpoint
from hyperret_eval.catalogue.models import model_names
from hyperret_eval.catalogue.published import figures_for, ours_for, published_figures
from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.catalogue.tasks import TaskSpec, load_catalogue
from hyperret_eval.core.errors import UserError
from hyperret_eval.data.beir import count_split
from hyperret_eval.data.trec import count_trec
from hyperret_eval.integrations.mteb_statistics import split_statistics


def _titled(table: Table, title: str, caption: str) -> Group:
    """``table`` between a title and a caption that wrap at the terminal's width, not at the
    table's (rich's own title and caption, at the width of a two-column table, come out one
    word a line)."""
    return Group(Text(title, style="bold"), table, Text(caption, style="dim"))


def score_table(scores) -> Group:
    """Main score (x100) per task (rows) and model (columns), with an average per task type."""
    models = list(dict.fromkeys(s.model for s in scores))
    tasks = list(dict.fromkeys((s.task, s.task_type) for s in scores))
    by_cell = {(s.model, s.task): s.main_score for s in scores}
    table = Table()
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
    return _titled(table, "Main scores x100", "STS: cosine Spearman; retrieval: nDCG@10")


IR_MEASURES_PREFIX = "ir_measures:"  # how a result file keys the ir-measures scores


def retrieval_metrics_table(scores) -> Group | None:
    """Each retrieval task's ir-measures scores (x100) per model: nDCG@10, RR@10, R@100 and
    AP, at the task's relevance threshold (TREC-DL's binary measures count grades >= 2)."""
    rows = [s for s in scores if s.task_type == "Retrieval" and any(k.startswith(IR_MEASURES_PREFIX) for k in s.scores)]
    if not rows:
        return None
    def measure(key: str) -> str:
        return re.sub(r"\(rel=\d+\)", "", key.removeprefix(IR_MEASURES_PREFIX))
    from hyperret_eval.integrations.ir_metrics import report_measures

    # The reported measures in their order, whichever order the scores came in (a kept result's differs).
    order = [measure(str(m)) for m in report_measures()]
    found = {measure(k) for s in rows for k in s.scores if k.startswith(IR_MEASURES_PREFIX)}
    names = sorted(found, key=lambda name: (order.index(name) if name in order else len(order), name))
    table = Table()
    table.add_column("task", no_wrap=True)
    table.add_column("model")
    for name in names:
        table.add_column(name, justify="right")
    for s in rows:
        values = {measure(k): v for k, v in s.scores.items() if k.startswith(IR_MEASURES_PREFIX)}
        table.add_row(s.task, s.model, *(_fmt(values.get(name)) for name in names))
    return _titled(table, "Retrieval measures x100 (ir-measures)",
                   "the same rankings scored by ir-measures; binary measures at each task's relevance threshold "
                   "(TREC-DL: grade 2 and above)")


def senteval_table(reports: dict[str, dict]) -> Group:
    """The papers' protocol: Spearman x100, pooled "all" per STS year, test for STS-B/SICK-R;
    the papers' average when all seven sets ran."""
    models = list(reports)
    tasks = list(next(iter(reports.values()))["tasks"])
    table = Table()
    table.add_column("task", no_wrap=True)
    for model in models:
        table.add_column(model, justify="right")
    for task in tasks:
        table.add_row(task, *(f"{reports[m]['tasks'][task]['all']:.2f}" for m in models))
    if all("avg" in reports[m] for m in models):
        table.add_row("[bold]Avg.[/bold]", *(f"{reports[m]['avg']:.2f}" for m in models))
    return _titled(table, "SentEval protocol (SimCSE/HiCL papers)", "Spearman x100 of cosine; STS12-16: 'all' setting")


def published_table(scores, senteval: dict[str, dict] | None = None) -> Group | None:
    """Ours beside each published figure (x100) for the models and tasks of the run, with
    the difference and the figure's source; a paper's baseline we have no checkpoint of is
    listed for reference where one of our models has a figure on the same tasks."""
    results: dict[str, dict[str, tuple[dict, int]]] = {}
    names = {}
    for s in scores:
        names[s.model_name] = s.model
        if s.comparable_data:  # other data than the figures were computed on compares with none
            results.setdefault(s.model_name, {})[s.task] = (s.scores, s.size)
    for key, report in (senteval or {}).items():
        name = next((n for n, k in names.items() if k == key), key)
        for task, values in report.get("tasks", {}).items():
            scored, size = results.setdefault(name, {}).get(task, ({}, 0))
            results[name][task] = ({**scored, "senteval_spearman": values["all"] / 100}, size)
    ours = [(names.get(model, model), figure, ours_for(figure, by_task))
            for model, by_task in results.items() for figure in figures_for({model}, set(by_task))]
    ours = [row for row in ours if row[2] is not None]
    if not ours:
        return None
    compared = {(f.tasks, f.metric) for _, f, _ in ours}
    ran = {task for by_task in results.values() for task in by_task}
    references = [f for f in published_figures() if f.model not in results and (f.tasks, f.metric) in compared
                  and set(f.tasks) <= ran]
    table = Table()
    for column in ("model", "task", "metric"):
        table.add_column(column, no_wrap=True)
    for column in ("ours", "published", "difference"):
        table.add_column(column, justify="right")
    table.add_column("source", overflow="fold")
    for model, figure, value in ours:
        table.add_row(model, figure.task_label, figure.metric, _fmt(value), _fmt(figure.value),
                      f"{100 * (value - figure.value):+.2f}", figure.source)
    for figure in references:
        table.add_row(f"{figure.model} (reference)", figure.task_label, figure.metric, "-", _fmt(figure.value), "-",
                      figure.source)
    return _titled(table, "Published figures beside ours x100",
                   "difference = ours - published, in points; tasks joined by + are pooled over their queries; "
                   "how each figure was checked: hyperret_eval/catalogue/published.toml")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def task_table(data_root: Path, task_files: list[Path] | None = None) -> Table:
    table = Table(title=f"Tasks (data root: {data_root})",
                  caption="A missing dataset is downloaded by `run` when online, where it has a public source.")
    table.add_column("task", no_wrap=True)
    for column in ("type", "groups", "split", "main score"):
        table.add_column(column)
    table.add_column("data present", overflow="fold", min_width=24)

    for spec in load_catalogue(task_files or []).values():
        table.add_row(spec.name, spec.type, ",".join(spec.groups), spec.split, spec.main_score,
                      _presence(spec, data_root))
    return table


def _presence(spec: TaskSpec, data_root: Path) -> str:
    """``yes`` with the corpus and query counts of a retrieval task, else ``no`` and where it
    belongs (with mteb's counts, where mteb has the task)."""
    if not spec.is_available(data_root):
        leaves = [leaf for leaf in spec.members or (spec,) if not leaf.is_available(data_root)]
        where = _where(leaves[0].source) if len(leaves) == 1 else f"{len(leaves)} folders under {spec.location(Path())}"
        source = leaves[0].source
        how = "see `run` for how to get it" if source.instructions else \
            "downloadable" if source.beir_url or source.hf_dataset else "copy it by hand"
        return f"no: {where} ({how}){_mteb_counts(spec)}"
    if spec.type != "Retrieval":
        return "yes"
    try:
        counts = [_count(leaf, data_root) for leaf in spec.members or (spec,)]
    except UserError as exc:  # present but incomplete: the run would say the same
        return f"yes, but {exc}"
    documents, queries = (sum(column) for column in zip(*counts))
    return f"yes: {documents:,} documents, {queries:,} queries"


def _where(source) -> str:
    if source.format == "trec":
        return f"{source.path}/{{{','.join(source.files)}}} with {source.corpus}/corpus.jsonl"
    return source.path


def _count(spec: TaskSpec, data_root: Path) -> tuple[int, int]:
    source = spec.source
    if source.format == "trec":
        return count_trec(source.local_path(data_root), source.files, source.corpus_path(data_root))
    return count_split(spec.location(data_root), spec.split)


def _mteb_counts(spec: TaskSpec) -> str:
    stats = split_statistics(spec.type, spec.metadata_from, spec.split) if spec.metadata_from and not spec.members \
        else None
    if not stats or "num_documents" not in stats:
        return ""
    return f"; mteb: {stats['num_documents']:,} passages, {stats['num_queries']:,} judged queries"


def model_table(data_root: Path | None) -> Table:
    table = Table(title="Models (also accepted: a local sentence-transformers directory, or a hub id org/name)",
                  caption="A missing checkpoint is trained by `run` on the data under the data root.")
    table.add_column("name", no_wrap=True)
    table.add_column("what", overflow="fold")
    table.add_column("checkpoint", overflow="fold")
    for key, description in model_names().items():
        recipe = NAMED_RECIPES.get(key)
        table.add_row(key, description, "packaged" if recipe is None else _training_status(recipe.config, data_root))
    return table


def _training_status(config, data_root: Path | None) -> str:
    """Whether the checkpoint a recipe trains on this data root is in the cache."""
    try:
        checkpoint = locate_checkpoint(config, data_root)
    except UserError:  # its training data is not under the data root
        return "training data missing"
    done = checkpoint.steps_done()
    if done == 0:
        return "not trained yet"
    progress = "trained" if checkpoint.is_complete() else f"{done} of {config.max_steps} steps"
    return f"{progress} ({checkpoint.fingerprint})"
