"""`hyperret-eval publish`: check result files, merge them into the leaderboard folder and
regenerate its pages.

The leaderboard folder holds::

    leaderboard.json       every published (model, revision, task) with its provenance
    README.md              the score tables in Markdown
    index.html             the same as one static page: sortable tables, charts, run details
    benchmarks.json        search speed/quality points, when some were published
    results/<model>/<revision>/<Task>.json, model_meta.json
                           the published result files themselves, an MTEB results folder:
                           mteb.ResultCache(cache_path=<leaderboard>).load_results(include_remote=False)

Nothing is written unless every input file is valid and no published score would be
overwritten without ``--replace``; then the whole folder is rebuilt beside the old one and
swapped in at once (:func:`hyperret_eval.core.atomic.write_directory`). The read, merge and
write happen under a lock beside the folder (``.<name>.lock``), so publishes that run at
once all land, one after the other. A ``--leaderboard`` that is a symlink is written
through: the folder it points to is the one rebuilt. Links inside that folder (a checkout
may carry them) never lead a write or a delete elsewhere: one leading outside the folder
is refused before anything is read; a file publish writes replaces a link of its name
rather than writing through it; a folder on the way to a write or a delete that is a
link is refused.

``--withdraw MODEL@REVISION`` takes a published model revision off: its entries, its rows
and its copy of the result files (say, scores of a checkpoint whose recipe has changed).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperret_eval.catalogue.tasks import TaskSpec, load_catalogue
from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.evaluation.per_query import per_query_path
from hyperret_eval.leaderboard.benchmarks import BENCHMARKS_FILE, load_benchmarks, render_benchmarks_json
from hyperret_eval.leaderboard.markdown import render_readme
from hyperret_eval.leaderboard.model_info import ModelInfo, read_model_info
from hyperret_eval.leaderboard.page import render_page
from hyperret_eval.leaderboard.store import (
    Key, build_entry, load_entries, merge, render_leaderboard_json, sorted_entries,
)
from hyperret_eval.leaderboard.tables import (
    DEFAULT_BASELINE, ModelKey, build_sections, comparisons_of, published_beside,
)
from hyperret_eval.leaderboard.validate import (
    MODEL_META_FILE, Problem, UnknownTask, ValidResult, find_task_result_files, model_folder_name, validate_file,
)
from hyperret_eval.core.locks import exclusive_lock
from hyperret_eval.core.paths import inside, one_component

LEADERBOARD_FILE = "leaderboard.json"
README_FILE = "README.md"
PAGE_FILE = "index.html"
MTEB_RESULTS_FOLDER = "results"


@dataclass
class PublishSummary:
    leaderboard_dir: Path
    added: list[Key] = field(default_factory=list)
    unchanged: list[Key] = field(default_factory=list)
    replaced: list[Key] = field(default_factory=list)
    benchmarks: str | None = None  # "added", "unchanged" or "replaced" when a file was given
    withdrawn: list[Key] = field(default_factory=list)
    reproduced: list[Key] = field(default_factory=list)  # published already, with these scores, from another run
    skipped: list[str] = field(default_factory=list)  # one line per result of a task outside the catalogue
    written: bool = False


def publish(results_dirs: list[Path], leaderboard_dir: Path, replace: bool = False,
            benchmarks_file: Path | None = None, catalogue: dict[str, TaskSpec] | None = None,
            withdraw: list[str] | None = None, baseline: str = DEFAULT_BASELINE) -> PublishSummary:
    """``baseline``: the model every other is compared with, task by task (a paired test
    where both results kept their per-query values)."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    leaderboard_dir = Path(leaderboard_dir).resolve()  # a symlink: rebuild the folder it points to
    if leaderboard_dir.exists() and not leaderboard_dir.is_dir():
        raise UserError(f"{leaderboard_dir} is a file; --leaderboard names a folder")
    withdrawals = [_parse_withdrawal(text) for text in withdraw or []]
    results, skipped = _validated_results(results_dirs, catalogue)
    lock = leaderboard_dir.with_name(f".{leaderboard_dir.name}.lock")
    waiting = f"Waiting for another publish to {leaderboard_dir} (lock {lock})"
    with exclusive_lock(lock, on_wait=lambda: print(waiting, file=sys.stderr)):
        _refuse_links_leaving(leaderboard_dir)
        summary = _publish_locked(results, leaderboard_dir, replace, benchmarks_file, catalogue, withdrawals, baseline)
    summary.skipped = skipped
    return summary


def _publish_locked(results: dict[Key, tuple[ValidResult, dict[str, Any]]], leaderboard_dir: Path, replace: bool,
                    benchmarks_file: Path | None, catalogue: dict[str, TaskSpec],
                    withdrawals: list[tuple[str, str]], baseline: str) -> PublishSummary:
    """Read, merge and write the leaderboard: the part of :func:`publish` done under its lock."""
    incoming = {key: (result.path, entry) for key, (result, entry) in results.items()}
    merged = merge(load_entries(leaderboard_dir / LEADERBOARD_FILE), incoming, replace)
    conflicts = list(merged.conflicts)
    withdrawn = _withdraw(merged.entries, withdrawals, incoming, leaderboard_dir, conflicts)

    old_benchmarks = _published_benchmarks(leaderboard_dir)
    benchmarks, benchmarks_state = old_benchmarks, None
    if benchmarks_file is not None:
        new_benchmarks = load_benchmarks(benchmarks_file)
        benchmarks_state = "added" if old_benchmarks is None else "unchanged" if new_benchmarks == old_benchmarks else "replaced"
        if benchmarks_state == "replaced" and not replace:
            conflicts.append(f"{benchmarks_file}: other search benchmarks are already published in "
                             f"{leaderboard_dir / BENCHMARKS_FILE}. Pass --replace to publish these instead.")
        benchmarks = new_benchmarks
    if conflicts:
        raise UserError("\n".join([f"nothing was published; {len(conflicts)} conflict(s):", *conflicts]))

    exports = [results[key][0] for key in (*merged.added, *merged.replaced)]
    meta_files = _model_meta_files(results, merged.entries)
    infos = _model_infos(merged.entries, meta_files, leaderboard_dir)
    # Per-query files go with every result published, reproduced or republished (a result
    # published before they existed gains its file when a run that kept one is published).
    per_query_files = {(result.model_name, result.revision, result.path.stem): per_query_path(result.path)
                       for key, (result, _) in results.items()
                       if key in merged.entries and per_query_path(result.path).is_file()}
    per_query = _per_query_reader(per_query_files, leaderboard_dir)
    sections = build_sections(sorted_entries(merged.entries, catalogue), catalogue, infos, baseline, per_query)
    published = published_beside([entry for entry in sorted_entries(merged.entries, catalogue)
                                  if entry["task"] not in catalogue
                                  or catalogue[entry["task"]].on_published_data(entry["dataset_revision"])], per_query)
    outputs = {
        LEADERBOARD_FILE: render_leaderboard_json(sorted_entries(merged.entries, catalogue), comparisons_of(sections)),
        README_FILE: render_readme(sections, benchmarks, published),
        PAGE_FILE: render_page(sections, benchmarks, published),
    }
    if benchmarks is not None:
        outputs[BENCHMARKS_FILE] = render_benchmarks_json(benchmarks)

    task_order = {name: i for i, name in enumerate(catalogue)}

    def in_order(keys: list[Key]) -> list[Key]:
        return sorted(keys, key=lambda k: (k[0], k[1], task_order.get(k[2], len(task_order))))

    summary = PublishSummary(leaderboard_dir, in_order(merged.added), in_order(merged.unchanged),
                             in_order(merged.replaced), benchmarks_state, in_order(withdrawn),
                             reproduced=in_order(merged.reproduced))
    new_per_query = {key: path for key, path in per_query_files.items()
                     if not _same_file(path, _published_per_query(leaderboard_dir, *key))}
    new_meta = {key: path for key, path in meta_files.items()
                if not _same_file(path, published_folder(leaderboard_dir, *key) / MODEL_META_FILE)}
    if exports or withdrawn or new_per_query or new_meta or not _already_on_disk(leaderboard_dir, outputs):
        atomic.write_directory(leaderboard_dir, lambda staging: _fill(staging, leaderboard_dir, outputs, exports,
                                                                      withdrawals, new_per_query, new_meta))
        summary.written = True
    return summary


def published_folder(leaderboard_dir: Path, model: str, revision: str) -> Path:
    """``results/<org>__<name>/<revision>`` under the leaderboard: where a model revision's
    files are published, and the only way any code here names that place. Both parts must
    be safe folder names, so nothing outside ``results/`` is ever written or removed."""
    return (leaderboard_dir / MTEB_RESULTS_FOLDER / one_component(model_folder_name(model), f"model {model!r} as a folder")
            / one_component(revision, f"revision of {model!r}"))


def _model_meta_files(results: dict[Key, tuple[ValidResult, dict[str, Any]]],
                      entries: dict[Key, dict[str, Any]]) -> dict[ModelKey, Path]:
    """The model_meta.json to publish for each model revision among the results: that of
    its newest run, if no run published before is newer. Every result that stays published
    counts, a reproduction too: a model's description (training data, zero-shot flags) may
    have been corrected since it was first published, while its scores could not change
    without being a conflict."""
    published_newest: dict[ModelKey, str] = {}
    for (model, revision, _), entry in entries.items():
        for run in (entry["provenance"]["run"], *entry["provenance"].get("reproductions", [])):
            published_newest[(model, revision)] = max(published_newest.get((model, revision), ""), run["started_at"])
    newest: dict[ModelKey, tuple[str, Path]] = {}
    for key, (result, entry) in results.items():
        started = entry["provenance"]["run"]["started_at"]
        model = (result.model_name, result.revision)
        if key in entries and started >= newest.get(model, ("", None))[0]:
            newest[model] = (started, result.model_meta_path)
    return {model: path for model, (started, path) in newest.items() if started == published_newest[model]}


def _model_infos(entries: dict[Key, dict[str, Any]], meta_files: dict[ModelKey, Path],
                 leaderboard_dir: Path) -> dict[ModelKey, ModelInfo]:
    """What each published model revision's model_meta.json says: the file published with
    it now, else the one published before (the copy its results folder keeps). Zero-shot
    flags cover every task on the leaderboard, not only those the model was evaluated on:
    a table asks about all of its tasks."""
    models = {(model, revision) for model, revision, _ in entries}
    all_tasks = sorted({task for _, _, task in entries})
    infos = {}
    for key in sorted(models):
        info = read_model_info(meta_files.get(key) or published_folder(leaderboard_dir, *key) / MODEL_META_FILE, all_tasks)
        if info is not None:
            infos[key] = info
    return infos


def _per_query_reader(incoming: dict[Key, Path], leaderboard_dir: Path):
    """Each result's per-query file, parsed: the one being published with it, else the
    copy published before; None when it has none."""
    def read(model: str, revision: str, task: str) -> dict[str, Any] | None:
        path = incoming.get((model, revision, task)) or _published_per_query(leaderboard_dir, model, revision, task)
        return read_json(path, "per-query file") if path.is_file() else None

    return read


def _published_per_query(leaderboard_dir: Path, model: str, revision: str, task: str) -> Path:
    return per_query_path(published_folder(leaderboard_dir, model, revision) / f"{task}.json")


def _same_file(path: Path, other: Path) -> bool:
    return other.is_file() and path.read_bytes() == other.read_bytes()


def _parse_withdrawal(text: str) -> tuple[str, str]:
    model, sep, revision = text.rpartition("@")
    if not sep or not model or not revision:
        raise UserError(f"--withdraw {text!r}: expected MODEL@REVISION, e.g. hyperret/hypencoder-minilm-l6@78a824a5df3f")
    published_folder(Path("."), model, revision)  # refuse an unsafe name before anything is read
    return model, revision


def _withdraw(entries: dict[Key, dict[str, Any]], withdrawals: list[tuple[str, str]],
              incoming: dict[Key, tuple[Path, dict[str, Any]]], leaderboard_dir: Path, conflicts: list[str]) -> list[Key]:
    """Drop every entry of each withdrawn model revision from ``entries``; a revision that
    is not published, or that the results being published hold, is a conflict."""
    withdrawn = []
    for model, revision in withdrawals:
        keys = [key for key in entries if key[:2] == (model, revision)]
        republished = [key for key in incoming if key[:2] == (model, revision)]
        if republished:
            conflicts.append(f"--withdraw {model}@{revision}: the results being published hold it "
                             f"({incoming[republished[0]][0]}); withdraw it or publish it, not both")
        elif not keys:
            conflicts.append(f"--withdraw {model}@{revision}: no such model revision is published in "
                             f"{leaderboard_dir / LEADERBOARD_FILE}")
        for key in keys:
            del entries[key]
        withdrawn.extend(keys)
    return withdrawn


def _validated_results(results_dirs: list[Path], catalogue: dict[str, TaskSpec]
                       ) -> tuple[dict[Key, tuple[ValidResult, dict[str, Any]]], list[str]]:
    """Every task result file under the folders, checked; a UserError listing all problems
    if any. Results of tasks outside the catalogue are left out, each with one line saying so."""
    files = []
    for folder in results_dirs:
        if not folder.is_dir():
            raise UserError(f"{folder}: no such results folder")
        found = find_task_result_files(folder)
        if not found:
            raise UserError(f"{folder}: no task result files in it (expected <org>__<model>/<revision>/<Task>.json)")
        files.extend(found)
    problems: list[Problem] = []
    skipped: list[str] = []
    results: dict[Key, tuple[ValidResult, dict[str, Any]]] = {}
    for path in files:
        checked = validate_file(path, catalogue)
        if isinstance(checked, list) and checked and all(isinstance(p, UnknownTask) for p in checked):
            skipped.extend(str(p) for p in checked)
            continue
        if isinstance(checked, list):
            problems.extend(checked)
            continue
        entry = build_entry(checked)
        key = (entry["model"], entry["revision"], entry["task"])
        if key in results and results[key][1] != entry:
            problems.append(Problem(path, f"another result for {key[0]}@{key[1]} on {key[2]} is given in "
                                          f"{results[key][0].path}; publish one of them"))
            continue
        results.setdefault(key, (checked, entry))
    if problems:
        bad_files = len({p.path for p in problems})
        raise UserError("\n".join([f"nothing was published; {bad_files} of {len(files)} result files are not valid:",
                                   *(f"  {p}" for p in problems)]))
    return results, skipped


def _published_benchmarks(leaderboard_dir: Path) -> dict[str, Any] | None:
    path = leaderboard_dir / BENCHMARKS_FILE
    return load_benchmarks(path) if path.exists() else None


def _already_on_disk(leaderboard_dir: Path, outputs: dict[str, str]) -> bool:
    for name, text in outputs.items():
        path = leaderboard_dir / name
        if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
            return False
    return True


def _refuse_links_leaving(leaderboard_dir: Path) -> None:
    """A UserError naming the first link in the leaderboard folder that leads outside it."""
    for dirpath, dirnames, filenames in os.walk(leaderboard_dir, followlinks=False):
        for name in [*dirnames, *filenames]:
            entry = Path(dirpath) / name
            if entry.is_symlink():
                inside(leaderboard_dir, entry, f"the leaderboard's link {entry}")


def _unlinked(staging: Path, leaderboard_dir: Path, path: Path) -> Path:
    """``path`` (under ``staging``) made safe to write or delete: a folder on the way that
    is a link is refused, naming the leaderboard's link; a link at ``path`` itself is removed."""
    relative = path.relative_to(staging)
    for depth in range(1, len(relative.parts)):
        if (staging / Path(*relative.parts[:depth])).is_symlink():
            raise UserError(f"{leaderboard_dir / Path(*relative.parts[:depth])} is a link; publish writes and deletes "
                            "only in the leaderboard's own folders, never through a link (replace it with a folder)")
    if path.is_symlink():
        path.unlink()
    return path


def _fill(staging: Path, leaderboard_dir: Path, outputs: dict[str, str], exports: list[ValidResult],
          withdrawals: list[tuple[str, str]], per_query_files: dict[Key, Path],
          meta_files: dict[ModelKey, Path]) -> None:
    """The new leaderboard folder: the old one's files less the withdrawn revisions', the
    newly published result, per-query and model_meta files (in MTEB's results layout), and
    the regenerated pages."""
    if leaderboard_dir.exists():
        shutil.copytree(leaderboard_dir, staging, symlinks=True, dirs_exist_ok=True)

    def copy(source: Path, target: Path) -> None:
        _unlinked(staging, leaderboard_dir, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    for model, revision in withdrawals:
        revision_folder = _unlinked(staging, leaderboard_dir, published_folder(staging, model, revision))
        shutil.rmtree(revision_folder, ignore_errors=True)
        if revision_folder.parent.is_dir() and not any(revision_folder.parent.iterdir()):
            revision_folder.parent.rmdir()
    for result in exports:
        copy(result.path, published_folder(staging, result.model_name, result.revision) / result.path.name)
    for key, source in meta_files.items():
        copy(source, published_folder(staging, *key) / MODEL_META_FILE)
    for key, source in per_query_files.items():
        copy(source, _published_per_query(staging, *key))
    for name, text in outputs.items():
        _unlinked(staging, leaderboard_dir, staging / name).write_text(text, encoding="utf-8")
