"""mteb task objects read from a data root, for Python users of ``mteb.evaluate``.

``mteb.get_tasks`` reads a task's data from the Hugging Face hub; these are the tasks
`hyperret-eval run` evaluates, with their data read (and checked) from the data root,
from the user's task files, or from BEIR-layout folders, so that
``mteb.evaluate(model, get_tasks(...))`` scores what `run` scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from hyperret_eval.catalogue.selection import select_tasks
from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.core.paths import resolve_data_root
from hyperret_eval.evaluation.runner import as_mteb_task, prepare_tasks
from hyperret_eval.evaluation.task_data import available_tasks


def get_tasks(tasks: str | Sequence[str] = "STS,BEIR", data_root: str | Path | None = None, *,
              task_files: Sequence[str | Path] = (), split: str | None = None, seed: int = 42,
              progress: Callable[[str], None] = print) -> list:
    """The mteb tasks that ``hyperret-eval run --tasks`` names: task and group names, and
    BEIR-layout folders (an entry with a ``/``), as a comma-separated string or a list.
    ``data_root`` as ``--data-root`` (else ``$HYPERRET_DATA``, else the cache's); a missing
    dataset is downloaded when online, a group's missing members skipped (``progress``
    says which). ``task_files``, ``split`` and ``seed`` as ``--task-file``, ``--split``
    and ``--seed``."""
    names = tasks if isinstance(tasks, str) else ",".join(tasks)
    root = resolve_data_root(data_root)
    selection = select_tasks(names, load_catalogue([Path(f).expanduser() for f in task_files]), split)
    prepared = prepare_tasks(available_tasks(selection, root, progress), root, progress)
    return [as_mteb_task(task, root, seed) for task in prepared]
