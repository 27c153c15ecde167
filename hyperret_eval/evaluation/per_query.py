"""The per-query file kept with every result: what a task's main score summarises.

A main score alone cannot say whether two models differ beyond noise; a paired test over
the same queries (retrieval) or a bootstrap over the same pairs (STS) can, and needs each
query's or pair's value. ``run`` writes them beside each mteb ``TaskResult``::

    <output>/<org>__<model>/<revision>/<Task>.json              mteb TaskResult
    <output>/<org>__<model>/<revision>/per_query/<Task>.json    this file

in a folder of its own, because mteb's loader reads every ``*.json`` directly in the
revision folder as a TaskResult (as ``predictions/`` and ``senteval/`` do). Its body:

- retrieval: ``"queries": {query id: {measure: value}}`` for every judged query, with the
  ir-measures measures of the result file (``"measures"``; ``"main_measure"`` the one
  equal to mteb's main score), so two models pair up by query id;
- STS: ``"pairs": {"gold": [...], "similarity": [...]}`` in the data's order (the same
  ``dataset_revision`` means the same order), ``"similarity_function"`` naming the
  similarity whose correlation with gold is the main score;
- a task averaged over others (CQADupstack): ``"members": {task: body}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hyperret_eval.core import atomic

FOLDER = "per_query"
FORMAT = "hyperret-per-query/1"


def per_query_path(result_path: Path) -> Path:
    """Where the per-query file of the TaskResult at ``result_path`` lies."""
    return result_path.parent / FOLDER / result_path.name


def save_per_query(result_path: Path, task_result, model_meta, task_type: str, split: str,
                   body: dict[str, Any], data_revision: str | None = None) -> Path:
    """Write the per-query file of ``task_result`` (saved at ``result_path``), atomically.
    ``data_revision``: the hash of the data (the result's ``dataset_revision`` may be mteb's
    revision of it), by which two files pair up."""
    path = per_query_path(result_path)
    header = {
        "format": FORMAT,
        "task_name": task_result.task_name,
        "task_type": task_type,
        "dataset_revision": data_revision or task_result.dataset_revision,
        "model_name": model_meta.name,
        "model_revision": model_meta.revision,
        "split": split,
        "main_score": float(task_result.get_score()),
    }
    # One line, no indentation: a number a line would make SICK-R's file 20,000 lines.
    atomic.write_text(path, json.dumps({**header, **body}, separators=(",", ":")) + "\n")
    return path
