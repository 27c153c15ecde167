"""The options of a run (:class:`RunOptions`), checked before torch and mteb are imported
(half a minute on a cold start), so that a mistake is answered in about a second: the
tasks and models named, the device, the batch size, the output folder, and the data root
and its data where they can be told missing without a download.

Nothing here imports torch or mteb; :func:`hyperret_eval.evaluation.runner.run` calls
:func:`check_run` first (the command line calls it before importing the runner).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hyperret_eval.catalogue.models import ResolvedModel, resolve_models
from hyperret_eval.catalogue.selection import Selection, select_tasks
from hyperret_eval.catalogue.tasks import TaskSpec, load_catalogue
from hyperret_eval.core import atomic
from hyperret_eval.core.device_request import check_device_request
from hyperret_eval.core.errors import UserError
from hyperret_eval.data import download, sources


@dataclass
class RunOptions:
    tasks: str
    models: str
    data_root: Path
    output_dir: Path
    device: str = "auto"
    batch_size: int = 32
    seed: int = 42
    senteval: bool = True  # also report the SimCSE/HiCL papers' STS protocol when STS runs
    retrain: bool = False  # train recipe checkpoints again from scratch, even complete ones
    train_missing: bool = True  # train a missing recipe checkpoint; if False, that is an error
    save_predictions: bool = False  # also keep each retrieval run (top-k per query) beside the scores
    argv: list[str] = field(default_factory=list)
    task_files: list[Path] = field(default_factory=list)  # the user's catalogue files (--task-file)
    split: str | None = None  # the split of folders named in --tasks (--split)
    overwrite: bool = False  # evaluate again a model x task whose result is already in output_dir


@dataclass(frozen=True)
class CheckedRun:
    selection: Selection
    models: list[ResolvedModel]


def check_run(options: RunOptions, data_root_given: bool = False) -> CheckedRun:
    """Check ``options``. ``data_root_given``: the data root was chosen (``--data-root``,
    ``$HYPERRET_DATA``), so it must exist; the default one is made when a download fills it."""
    selection = select_tasks(options.tasks, load_catalogue(options.task_files), options.split)
    if data_root_given and not options.data_root.is_dir() and any(_reads_data_root(spec) for spec in selection.tasks):
        raise UserError(f"--data-root {options.data_root}: there is no folder there (make it, and datasets missing "
                        "from it are downloaded into it when this machine is online)")
    models = resolve_models(options.models, options.data_root)
    check_device_request(options.device)
    if options.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {options.batch_size}")
    atomic.check_writable_folder(options.output_dir, "--output-dir")
    _check_offline_data(selection, options.data_root)
    return CheckedRun(selection, models)


def _reads_data_root(spec: TaskSpec) -> bool:
    """Whether a task's data lies under the data root (a folder named in --tasks does not)."""
    return any(not Path(leaf.source.path).is_absolute() for leaf in spec.members or (spec,))


def _check_offline_data(selection: Selection, data_root: Path) -> None:
    """Offline, a task named on its own whose data is missing cannot be had."""
    offline = download.offline_variable()
    if offline is None:
        return
    for spec in selection.tasks:
        if spec.name in selection.optional:
            continue
        for leaf in spec.members or (spec,):
            if not leaf.is_available(data_root):
                raise sources.not_found(leaf.name, leaf.source, data_root, f"offline mode is set ({offline})")
