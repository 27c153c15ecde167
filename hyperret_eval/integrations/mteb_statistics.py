"""mteb's descriptive statistics of a task (corpus size, judged queries), read from the
JSON file mteb ships for it without importing mteb, so that ``list tasks`` stays fast.

mteb keeps them as ``mteb/descriptive_stats/<type>/<task>.json``, which is what its
``TaskMetadata.descriptive_stats`` reads; tests/test_trec_dl.py checks the two agree.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path


def _stats_folder() -> Path | None:
    spec = importlib.util.find_spec("mteb")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "descriptive_stats"


def split_statistics(task_type: str, task_name: str, split: str) -> dict | None:
    """mteb's statistics of one split of a task, or None where mteb has none."""
    folder = _stats_folder()
    path = folder / task_type / f"{task_name}.json" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stats.get(split) if isinstance(stats, dict) else None
