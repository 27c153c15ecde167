"""``leaderboard.json``: one entry per (model, revision, task), merged run after run.

An entry holds the main score, the task's main metrics and where the score came from
(checkpoint, recipe, command, package versions, hardware, dates). Entries are written in
a fixed order and hold no publishing time, so publishing the same results twice gives
the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hyperret_eval.catalogue.tasks import TaskSpec
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.evaluation.results import data_revision
from hyperret_eval.integrations import ir_metrics
from hyperret_eval.leaderboard.validate import ValidResult

FORMAT_VERSION = 1
# mteb's metrics shown beside the main score, when the result has them; a retrieval task
# adds the ir-measures metrics it reports (see main_metric_keys).
MTEB_METRICS = {
    "STS": ("cosine_spearman", "cosine_pearson", "spearman", "pearson"),
    "Retrieval": ("ndcg_at_10", "map_at_10", "mrr_at_10", "recall_at_10", "recall_at_100"),
}

Key = tuple[str, str, str]  # model, revision, task


def entry_key(entry: dict[str, Any]) -> Key:
    return entry["model"], entry["revision"], entry["task"]


def build_entry(result: ValidResult) -> dict[str, Any]:
    """The leaderboard entry of a checked task result file."""
    body, provenance, spec = result.body, result.provenance, result.spec
    checkpoint = provenance.get("checkpoint")
    run = provenance["run"]
    return {
        "model": result.model_name,
        "revision": result.revision,
        "task": spec.name,
        "task_type": spec.type,
        "split": spec.split,
        "main_metric": spec.main_score,
        "main_score": _mean(entry["main_score"] for entry in result.split_scores),
        "metrics": _main_metrics(result.split_scores, spec),
        "dataset_revision": data_revision(body),  # the data's hash: equal hashes, equal data
        "mteb_version": body["mteb_version"],
        "evaluation_time_s": body["evaluation_time"],
        "evaluated_at": _iso_date(body.get("date")),
        "provenance": {
            "model_key": provenance.get("model_key"),
            "source": provenance["source"],
            # The checkpoint's fingerprint and recipe; its local path means nothing elsewhere.
            "checkpoint": None if not isinstance(checkpoint, dict)
            else {"fingerprint": checkpoint.get("fingerprint"), "recipe": checkpoint.get("recipe")},
            "run": {
                "manifest": run["manifest"],
                "command": run["command"],
                "started_at": run["started_at"],
                "packages": run.get("packages") or {},
                "device": run.get("device") or {},
            },
        },
    }


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def main_metric_keys(spec: TaskSpec) -> list[str]:
    """The metrics an entry of ``spec`` shows: mteb's, and for retrieval the ir-measures
    measures at the task's own relevance threshold (``RR(rel=2)@10`` for TREC-DL)."""
    ours = ir_metrics.result_keys(spec.relevance_threshold) if spec.type == "Retrieval" else []
    return [*MTEB_METRICS[spec.type], *ours]


def _main_metrics(split_scores: list[dict[str, Any]], spec: TaskSpec) -> dict[str, float]:
    metrics = {}
    for name in main_metric_keys(spec):
        values = [entry.get(name) for entry in split_scores]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            metrics[name] = _mean(values)
    return metrics


def _iso_date(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc).isoformat(timespec="seconds")
    return None


def load_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of an existing leaderboard.json (none when the file does not exist)."""
    if not path.exists():
        return []
    board = read_json(path, "leaderboard (fix or remove it)")
    entries = board.get("entries") if isinstance(board, dict) else None
    well_formed = isinstance(entries, list) and all(
        isinstance(e, dict) and {"model", "revision", "task"} <= e.keys() for e in entries
    )
    if not well_formed or board.get("format") != FORMAT_VERSION:
        raise UserError(f"{path} is not a leaderboard.json of format {FORMAT_VERSION} written by `hyperret-eval publish`")
    return entries


@dataclass
class Merge:
    """What publishing does to each key: added, unchanged, replaced, or refused."""

    entries: dict[Key, dict[str, Any]]
    added: list[Key] = field(default_factory=list)
    unchanged: list[Key] = field(default_factory=list)
    replaced: list[Key] = field(default_factory=list)
    reproduced: list[Key] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


# What a reproduction must match: the scores, and the data they were computed on. The
# scores within REPRODUCTION_TOLERANCE (on mteb's 0-1 scale, so 0.01 points x100): thread
# counts, BLAS builds and hardware move the last decimals of a metric, not what it says.
SCORE_FIELDS = ("task_type", "split", "main_metric", "main_score", "metrics", "dataset_revision")
REPRODUCTION_TOLERANCE = 1e-4


def merge(existing: list[dict[str, Any]], incoming: dict[Key, tuple[Path, dict[str, Any]]], replace: bool) -> Merge:
    """Merge new entries (by key, with the file each came from) into the published ones.

    A key already published with the same scores from another run is a reproduction: the
    published entry keeps its scores and lists that run under ``provenance.reproductions``.
    With other scores it is a conflict unless ``replace``: a published score is never
    overwritten by accident.
    """
    result = Merge(entries={entry_key(e): e for e in existing})
    for key, (path, entry) in incoming.items():
        old = result.entries.get(key)
        if old is None:
            result.added.append(key)
        elif old == entry or _runs_of(old).count(entry["provenance"]["run"]):
            result.unchanged.append(key)
            continue
        elif _reproduces(old, entry):
            result.reproduced.append(key)
            # The reproduction's own scores beside its run, the published ones staying the entry's.
            scores = {"main_score": entry["main_score"], "metrics": entry["metrics"]}
            reproductions = [*old["provenance"].get("reproductions", []), {**entry["provenance"]["run"],
                                                                           "scores": scores}]
            entry = {**old, "provenance": {**old["provenance"], "reproductions": reproductions}}
        elif replace:
            result.replaced.append(key)
        else:
            result.conflicts.append(
                f"{path}: {key[0]}@{key[1]} on {key[2]} is already published from "
                f"{_describe(old)}; this file is from {_describe(entry)}, and differs (beyond "
                f"{REPRODUCTION_TOLERANCE:g}) in {_differences(old, entry)}. Pass --replace to publish it instead."
            )
            continue
        result.entries[key] = entry
    return result


def _runs_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The run that produced a published entry and the runs that reproduced it."""
    reproductions = entry["provenance"].get("reproductions", [])
    return [entry["provenance"]["run"], *({k: v for k, v in run.items() if k != "scores"} for run in reproductions)]


def _same_score(old: Any, new: Any) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (old, new))
    return abs(old - new) <= REPRODUCTION_TOLERANCE if numbers else old == new


def _reproduces(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """The same task, split and data, and every score within the tolerance."""
    metrics_old, metrics_new = old.get("metrics") or {}, new.get("metrics") or {}
    return (all(old.get(name) == new.get(name) for name in SCORE_FIELDS if name not in ("main_score", "metrics"))
            and _same_score(old.get("main_score"), new.get("main_score")) and metrics_old.keys() == metrics_new.keys()
            and all(_same_score(metrics_old[name], metrics_new[name]) for name in metrics_old))


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What keeps ``new`` from reproducing ``old``, in words: the metrics or fields whose
    values differ beyond the tolerance, old -> new."""
    changed = []
    for name in SCORE_FIELDS:
        if name == "metrics":
            metrics_old, metrics_new = old.get(name) or {}, new.get(name) or {}
            changed += [f"{metric} {metrics_old.get(metric)!r} -> {metrics_new.get(metric)!r}"
                        for metric in sorted(metrics_old.keys() | metrics_new.keys())
                        if not _same_score(metrics_old.get(metric), metrics_new.get(metric))]
        elif not _same_score(old.get(name), new.get(name)):
            changed.append(f"{name} {old.get(name)!r} -> {new.get(name)!r}")
    return "; ".join(changed)


def _describe(entry: dict[str, Any]) -> str:
    run = entry["provenance"]["run"]
    return f"run {run['manifest']} (started {run['started_at']}, main score {100 * entry['main_score']:.2f})"


def sorted_entries(entries: dict[Key, dict[str, Any]], catalogue: dict[str, TaskSpec]) -> list[dict[str, Any]]:
    order = {name: i for i, name in enumerate(catalogue)}
    return sorted(entries.values(), key=lambda e: (e["model"], e["revision"], order.get(e["task"], len(order)), e["task"]))


def render_leaderboard_json(entries: list[dict[str, Any]], comparisons: list[dict[str, Any]] | None = None) -> str:
    """The leaderboard's entries and, recomputed at every publish, each one's comparison
    with the baseline (not part of an entry: an entry is what a result file says)."""
    body = {"format": FORMAT_VERSION, "entries": entries, "comparisons": comparisons or []}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
