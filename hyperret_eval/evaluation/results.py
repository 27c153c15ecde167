"""Result files: mteb's own TaskResult JSON, written atomically, plus a run manifest.

Layout of an output folder (an MTEB results folder, so ``mteb.ResultCache`` reads it)::

    <output>/<org>__<model>/<revision>/<Task>.json      mteb TaskResult
    <output>/<org>__<model>/<revision>/model_meta.json  mteb ModelMeta
    <output>/runs/<UTC time>.json                        manifest of one `run` invocation

``mteb.ResultCache(cache_path=<parent>)`` reads ``<parent>/results/...``: the default
output folder, ``<cache root>/results`` (:func:`hyperret_eval.core.paths.resolve_results_dir`),
is read by ``mteb.ResultCache(cache_path=<cache root>).load_results(include_remote=False)``.
"""

from __future__ import annotations

import json
import platform
import shlex
import shutil
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.core.provenance import package_versions
from hyperret_eval.data.trec_runs import trec_qrels_lines, trec_run_lines

RUNS_FOLDER = "runs"


def task_result_path(output_dir: Path, model_meta, task_name: str) -> Path:
    return model_folder(output_dir, model_meta.name, model_meta.revision) / f"{task_name}.json"


def model_folder(output_dir: Path, model_name: str, revision: str) -> Path:
    """Where one model revision's results lie (mteb's layout: ``org__name/revision``)."""
    return output_dir / model_name.replace("/", "__").replace(" ", "_") / revision


def finished_result(folder: Path, task_name: str, dataset_revision: str):
    """The TaskResult already in a model's results ``folder`` for this task and data, or
    None when there is none, or it was computed on other data, or it cannot be read (then
    the task is simply evaluated again)."""
    from mteb.results import TaskResult

    path = folder / f"{task_name}.json"
    if not path.is_file():
        return None
    try:
        result = TaskResult.from_disk(path)
        computed_on = data_revision(json.loads(path.read_text(encoding="utf-8")))
    except Exception:  # noqa: BLE001 - any unreadable file is one to redo, not to trust
        return None
    return result if computed_on == dataset_revision else None


PROVENANCE_KEY = "hyperret"
# The hash of the data a result was computed on, in its provenance: its dataset_revision
# is mteb's revision where the data is mteb's dataset (a result that records none names the hash there).
DATA_REVISION_KEY = "data_revision"


def data_revision(body: dict[str, Any]) -> str | None:
    """The hash of the data a result file's scores were computed on."""
    provenance = body.get(PROVENANCE_KEY)
    own = provenance.get(DATA_REVISION_KEY) if isinstance(provenance, dict) else None
    return own or body.get("dataset_revision")


def recorded_provenance(path: Path) -> dict[str, Any]:
    """What the result file at ``path`` records of the model and run behind it (its
    ``"hyperret"`` entry); empty when it records nothing or cannot be read."""
    try:
        body = read_json(path, "result file")
    except UserError:
        return {}
    recorded = body.get(PROVENANCE_KEY) if isinstance(body, dict) else None
    return recorded if isinstance(recorded, dict) else {}


def save_task_result(output_dir: Path, model_meta, task_result, provenance: dict[str, Any]) -> Path:
    """Write a TaskResult and the model's ModelMeta, each atomically.

    The TaskResult is mteb's own JSON with one extra top-level key, ``"hyperret"``: which
    checkpoint (source, fingerprint, recipe) and which run produced it. mteb's loader
    ignores keys it does not know, so the file stays a valid MTEB result.
    """
    path = task_result_path(output_dir, model_meta, task_result.task_name)

    def write(tmp: Path) -> None:
        task_result.to_disk(tmp)  # mteb's serialiser: its date format and score rounding
        body = json.loads(tmp.read_text(encoding="utf-8"))
        body[PROVENANCE_KEY] = provenance
        tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")

    atomic.write_with(path, write)
    atomic.write_json(path.parent / "model_meta.json", model_meta_dict(model_meta))
    return path


def model_meta_dict(model_meta) -> dict[str, Any]:
    """mteb's ``ModelMeta.to_dict()`` with its training datasets sorted: mteb keeps them
    in a set and lists it in hash order, which changes from one process to the next, so
    the same model would be written differently by every run."""
    meta = model_meta.to_dict()
    if meta.get("training_datasets") is not None:
        meta["training_datasets"] = sorted(meta["training_datasets"])
    return meta


PREDICTIONS_FOLDER = "predictions"


def save_predictions(staged: Path, folder: Path, run_name: str,
                     qrels: Mapping[str, Mapping[str, Mapping[str, int]]] | None) -> None:
    """Keep the predictions mteb wrote to ``staged`` (``<Task>_predictions.json``, per
    subset and split) in ``folder``. A retrieval run (``qrels`` given: each task's
    judgements, by task name) is also written in the files trec_eval, ir-measures and ranx
    read: the run as ``<Task>.<split>.trec`` (``<Task>.<subset>.<split>.trec`` for a task of
    several subsets) and the task's qrels beside it as ``<Task>.<split>.qrels``. Each file
    is written atomically."""
    atomic.write_with(folder / staged.name, lambda target: shutil.copyfile(staged, target))
    if qrels is None:
        return
    task = staged.name.removesuffix("_predictions.json")
    subsets = {name: splits for name, splits in json.loads(staged.read_text(encoding="utf-8")).items()
               if name != "mteb_model_meta"}
    for subset, splits in subsets.items():
        for split, ranking in splits.items():
            stem = f"{task}.{split}" if len(subsets) == 1 else f"{task}.{subset}.{split}"
            _write_lines(folder / f"{stem}.trec", trec_run_lines(ranking, run_name))
            _write_lines(folder / f"{task}.{split}.qrels", trec_qrels_lines(qrels[task]))


def _write_lines(target: Path, lines: Iterable[str]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as out:
            out.writelines(lines)

    atomic.write_with(target, write)


class RunManifest:
    """What one `hyperret-eval run` did: command, versions, device, data, timings.

    Rewritten atomically after every finished task, so the file on disk always describes
    exactly the result files that exist.
    """

    def __init__(self, output_dir: Path, argv: list[str], settings: dict[str, Any]) -> None:
        self.started = datetime.now(timezone.utc)
        self.path = output_dir / RUNS_FOLDER / f"{self.started.strftime('%Y%m%dT%H%M%S%fZ')}.json"
        self.body: dict[str, Any] = {
            "command": shlex.join(["hyperret-eval", *argv]),
            "started_at": self.started.isoformat(),
            "finished_at": None,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": package_versions(),
            "settings": settings,
            "data": {},
            "results": [],
        }

    def summary(self) -> dict[str, Any]:
        """What a result file repeats of its run, so it stands on its own when published."""
        return {
            "manifest": self.path.relative_to(self.path.parent.parent).as_posix(),
            "command": self.body["command"],
            "started_at": self.body["started_at"],
            "packages": self.body["packages"],
            "device": self.body["settings"].get("device"),
        }

    def add_dataset(self, task_name: str, fingerprint: dict[str, str], revision: str, size: int) -> None:
        self.body["data"][task_name] = {"revision": revision, "examples": size, "files_sha256": fingerprint}

    def add_result(self, entry: dict[str, Any]) -> None:
        self.body["results"].append(entry)
        self.save()

    def add_senteval(self, entry: dict[str, Any]) -> None:
        """One model's run of the papers' SentEval STS protocol (its wall time), apart from
        the MTEB results: the two protocols' costs are read separately."""
        self.body.setdefault("senteval", []).append(entry)
        self.save()

    def finish(self) -> None:
        self.body["finished_at"] = datetime.now(timezone.utc).isoformat()
        self.save()

    def save(self) -> None:
        atomic.write_json(self.path, self.body)

