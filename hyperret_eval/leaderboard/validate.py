"""Find the task result files under results folders and check each one before anything
is published.

A results folder is laid out as ``<org>__<model>/<revision>/<Task>.json`` beside a
``model_meta.json`` (see :mod:`hyperret_eval.evaluation.results`); ``runs/`` and the subfolders of a
revision (``senteval/``) hold other files and are not task results. Every problem found
is collected, not only the first, so one publish attempt lists all that must be fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperret_eval.catalogue.tasks import TaskSpec
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.evaluation.results import DATA_REVISION_KEY, PROVENANCE_KEY, RUNS_FOLDER

MODEL_META_FILE = "model_meta.json"
SOURCES = ("packaged", "recipe", "local", "hub")
# main_score bounds: nDCG and the like lie in [0, 1]; a Spearman correlation can be negative.
SCORE_BOUNDS = {"STS": (-1.0, 1.0), "Retrieval": (0.0, 1.0)}


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class UnknownTask(Problem):
    """A result of a task outside the catalogue (a folder or task file of the user's own):
    publishing skips it, saying so, and publishes the rest."""


@dataclass(frozen=True)
class ValidResult:
    """A task result file that passed every check, with what publishing needs of it."""

    path: Path
    model_meta_path: Path
    model_name: str
    revision: str
    spec: TaskSpec
    body: dict[str, Any]  # the file's JSON, mteb's TaskResult plus the provenance key
    split_scores: list[dict[str, Any]]  # the entries of the task's split, one per subset

    @property
    def provenance(self) -> dict[str, Any]:
        return self.body[PROVENANCE_KEY]


def find_task_result_files(results_dir: Path) -> list[Path]:
    """``<model>/<revision>/<Task>.json`` files under ``results_dir``, sorted."""
    found = []
    for model_dir in sorted(p for p in results_dir.iterdir() if p.is_dir() and p.name != RUNS_FOLDER):
        for revision_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            found.extend(sorted(p for p in revision_dir.glob("*.json") if p.is_file() and p.name != MODEL_META_FILE))
    return found


def validate_file(path: Path, catalogue: dict[str, TaskSpec]) -> ValidResult | list[Problem]:
    """Check one task result file; its problems, or the checked result."""
    problems: list[str] = []
    body = _read_json(path, "result (an mteb TaskResult)", problems)
    if body is None:
        return [Problem(path, p) for p in problems]
    revision = path.parent.name

    _check_schema(body, problems)
    spec = _check_task(body, path, catalogue, problems)
    split_scores = _check_scores(body, spec, problems) if spec is not None else []
    _check_provenance(body.get(PROVENANCE_KEY), revision, problems)
    model_name = _check_model_meta(path.parent / MODEL_META_FILE, revision, path.parent.parent.name, problems)
    unknown = [p for p in problems if isinstance(p, UnknownTask)]
    if unknown:
        return unknown
    if problems:
        return [Problem(path, p) for p in problems]
    return ValidResult(path, path.parent / MODEL_META_FILE, model_name, revision, spec, body, split_scores)


def model_folder_name(model: str) -> str:
    """The folder mteb keeps a model's results in (``ModelMeta.model_name_as_path``)."""
    return model.replace("/", "__").replace(" ", "_")


def _read_json(path: Path, what: str, problems: list[str]) -> dict[str, Any] | None:
    """The JSON object in ``path`` (bounded: :func:`hyperret_eval.core.jsonfile.read_json`), or
    None with the problem noted."""
    try:
        body = read_json(path, what)
    except UserError as exc:
        problems.append(str(exc).removeprefix(f"{path}").lstrip(":, "))
        return None
    if not isinstance(body, dict):
        problems.append(f"expected a JSON object ({what}), found {type(body).__name__}")
        return None
    return body


def _check_schema(body: dict[str, Any], problems: list[str]) -> None:
    from mteb.results import TaskResult
    from pydantic import ValidationError

    try:
        TaskResult.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            problems.append(f"not an mteb TaskResult: {where}: {error['msg']}")


def _check_task(body: dict[str, Any], path: Path, catalogue: dict[str, TaskSpec], problems: list[str]) -> TaskSpec | None:
    name = body.get("task_name")
    if not isinstance(name, str):
        return None  # already reported by the schema check
    if name != path.stem:
        problems.append(f"task_name {name!r} does not match the file name {path.name!r}")
    if name not in catalogue:
        problems.append(UnknownTask(path, f"task {name!r} is not in the catalogue (a folder or task file of "
                                          "your own), so the leaderboard has no table for it; not published"))
        return None
    return catalogue[name]


def _check_scores(body: dict[str, Any], spec: TaskSpec, problems: list[str]) -> list[dict[str, Any]]:
    scores = body.get("scores")
    if not isinstance(scores, dict):
        return []  # already reported by the schema check
    entries = scores.get(spec.split)
    if not isinstance(entries, list) or not entries:
        problems.append(f"no scores for split {spec.split!r}, the split {spec.name} is evaluated on")
        return []
    low, high = SCORE_BOUNDS[spec.type]
    for entry in entries:
        subset = entry.get("hf_subset", "?") if isinstance(entry, dict) else "?"
        value = entry.get("main_score") if isinstance(entry, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"scores.{spec.split} subset {subset!r}: main_score {value!r} is not a number")
        elif not math.isfinite(value):
            problems.append(f"scores.{spec.split} subset {subset!r}: main_score is {value}, not a finite number")
        elif not low <= value <= high:
            problems.append(
                f"scores.{spec.split} subset {subset!r}: main_score {value} is outside [{low:g}, {high:g}] "
                f"(scores are fractions, not percentages)"
            )
    return entries


def _check_provenance(provenance: Any, revision: str, problems: list[str]) -> None:
    if provenance is None:
        problems.append(
            f"no provenance: the {PROVENANCE_KEY!r} key that `hyperret-eval run` writes (which checkpoint and "
            "which run produced the scores) is missing; re-run the evaluation with the current hyperret-eval"
        )
        return
    if not isinstance(provenance, dict):
        problems.append(f"provenance ({PROVENANCE_KEY!r}) is not a JSON object")
        return
    source = provenance.get("source")
    if source not in SOURCES:
        problems.append(f"provenance source is {source!r}; expected one of {', '.join(SOURCES)}")
    if not isinstance(provenance.get("revision"), str) or not provenance["revision"]:
        problems.append("provenance has no revision")
    elif provenance["revision"] != revision:
        problems.append(f"provenance revision {provenance['revision']!r} differs from the folder's revision {revision!r}")
    data = provenance.get(DATA_REVISION_KEY)
    if data is not None and (not isinstance(data, str) or not data):
        problems.append(f"provenance {DATA_REVISION_KEY} must be the data's hash (a string), found {data!r}")
    if source == "recipe":
        checkpoint = provenance.get("checkpoint")
        fingerprint = checkpoint.get("fingerprint") if isinstance(checkpoint, dict) else None
        if not isinstance(fingerprint, str) or not fingerprint:
            problems.append("provenance of a recipe-trained model has no checkpoint fingerprint")
    run = provenance.get("run")
    if not isinstance(run, dict):
        problems.append("provenance has no run record (manifest, command, start time)")
        return
    for key in ("manifest", "command", "started_at"):
        if not isinstance(run.get(key), str) or not run[key]:
            problems.append(f"provenance run record has no {key}")
    packages, device = run.get("packages"), run.get("device")
    if packages is not None and not (isinstance(packages, dict) and all(isinstance(v, str) for v in packages.values())):
        problems.append("provenance run record: packages must be an object of package versions (strings)")
    if device is not None and not isinstance(device, dict):
        problems.append(f"provenance run record: device must be an object, found {type(device).__name__}")


def _check_model_meta(path: Path, revision: str, folder: str, problems: list[str]) -> str:
    """The model's name from ``model_meta.json``; it must name the folder the result lies in
    (``folder``), as mteb's own folder naming does: the published copy goes to the folder
    the name gives, and a withdrawal removes that one (a real folder name is one path
    component, so the name leads nowhere else)."""
    if not path.is_file():
        problems.append(f"no {MODEL_META_FILE} beside it ({path}): the model's name comes from there")
        return ""
    found: list[str] = []
    meta = _read_json(path, "model's metadata", found)
    if meta is None:
        problems.extend(f"{path}: {p}" for p in found)
        return ""
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"{path} has no model name")
        return ""
    if model_folder_name(name) != folder:
        problems.append(f"{path} names the model {name!r}, but its results lie in the folder {folder!r} "
                        f"(expected {model_folder_name(name)!r})")
    if meta.get("revision") != revision:
        problems.append(f"{path} gives revision {meta.get('revision')!r}, the folder {revision!r}")
    return name
