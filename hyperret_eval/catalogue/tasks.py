"""The task catalogue: what each benchmark task is, read from the TOML files in ``tasks/``
and from the user's own task files (``--task-file``), in the same format.

A task is data (name, type, split, main score, where its data lies), not code; the MTEB
adapter in :mod:`hyperret_eval.integrations.mteb_tasks` turns an entry into an mteb task.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import parse_toml, read_text
from hyperret_eval.core.paths import safe_name
from hyperret_eval.data.sources import Source

TASK_TYPES = ("STS", "Retrieval")
# The scores mteb's evaluators report that can serve as a task's main score.
MAIN_SCORES = {
    "STS": re.compile(r"(cosine|manhattan|euclidean)_(pearson|spearman)"),
    "Retrieval": re.compile(r"(ndcg|map|recall|precision|mrr)_at_(1|3|5|10|20|100|1000)"),
}
DEFAULT_SPLIT = "test"
MAX_TASK_FILE_BYTES = 4 * 1024 * 1024  # the packaged catalogue, every BEIR and STS task, is 40 kB


@dataclass(frozen=True)
class TaskSpec:
    name: str
    type: str
    groups: tuple[str, ...]
    split: str
    main_score: str
    description: str
    source: Source | None  # None for a task averaged over ``members``
    metadata_from: str | None = None
    reference: str | None = None
    # What a reader must know before comparing the task's scores with figures elsewhere
    # (a sub-corpus, a changed protocol); the leaderboard shows it wherever it names the task.
    caveat: str | None = None
    score_range: tuple[float, float] = (0.0, 5.0)
    relevance_threshold: int = 1
    # The longest query, in tokens, a Hypencoder reads on this task: the official
    # replication's setting (64 in-domain, 512 on BEIR); None keeps the model's own limit.
    query_max_length: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    members: tuple[TaskSpec, ...] = ()  # tasks scored one by one and averaged (CQADupstack's forums)
    # The data hash (provenance.data_fingerprint) of the files known to hold the dataset of
    # the mteb task ``metadata_from`` names: data with this hash is mteb's, at its revision.
    mteb_data_hash: str | None = None
    origin: str = field(default="", compare=False)  # where the entry was declared, for messages

    def on_published_data(self, data_revision: str | None) -> bool:
        """Whether a score computed on data of this hash can stand beside published figures:
        it can, unless the task declares the hash of mteb's own copy and this is other data
        (a subset, say)."""
        return self.mteb_data_hash is None or self.mteb_data_hash == data_revision

    def is_available(self, data_root: Path) -> bool:
        if self.members:
            return all(member.is_available(data_root) for member in self.members)
        return self.source.is_available(data_root)

    def location(self, data_root: Path) -> Path:
        """The dataset's folder (or file); for an average, the folder holding its members'."""
        if self.members:
            paths = [member.location(data_root) for member in self.members]
            return Path(*[parts[0] for parts in zip(*(p.parts for p in paths)) if len(set(parts)) == 1])
        return self.source.local_path(data_root)


# Each field of an entry: the types TOML may give it.
_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,), "type": (str,), "groups": (list,), "split": (str,), "main_score": (str,),
    "description": (str,), "source": (dict,), "metadata_from": (str,), "reference": (str,),
    "caveat": (str,), "score_range": (list,), "relevance_threshold": (int,), "metadata": (dict,),
    "aggregate_of": (list,), "mteb_data_hash": (str,), "query_max_length": (int,),
}
_SOURCE_FIELDS = {"format": str, "path": str, "files": list, "beir_url": str, "hf_dataset": str,
                  "hf_revision": str, "fetch_into": str, "corpus": str,
                  "instructions": str}


def _entry_error(origin: str, index: int, entry: Any, problem: str) -> UserError:
    name = entry.get("name") if isinstance(entry, dict) else None
    label = f"task entry {index}" + (f" ({name!r})" if isinstance(name, str) else "")
    return UserError(f"{origin}: {label}: {problem}")


def _check_fields(entry: dict[str, Any], fail) -> None:
    for key, value in entry.items():
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, _FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise fail(f"unknown field {key!r}{hint}; the fields are {', '.join(_FIELDS)}")
        if not isinstance(value, _FIELDS[key]) or isinstance(value, bool):
            raise fail(f"field {key!r} must be {' or '.join(t.__name__ for t in _FIELDS[key])}, "
                       f"found {type(value).__name__}")
    for key in ("groups", "aggregate_of"):
        if not all(isinstance(item, str) for item in entry.get(key, [])):
            raise fail(f"field {key!r} must be a list of strings")
    for key in ("name", "type"):
        if key not in entry:
            raise fail(f"missing field {key!r}")
    if ("source" in entry) == ("aggregate_of" in entry):
        raise fail("needs exactly one of 'source' (where its data lies) and 'aggregate_of' (tasks it averages)")
    if entry.get("aggregate_of") == []:
        raise fail("aggregate_of is empty")
    if "description" not in entry and "metadata_from" not in entry:
        raise fail("needs a 'description', or 'metadata_from' naming the mteb task it reproduces")


def _parse_source(table: dict[str, Any], fail) -> Source:
    for key, value in table.items():
        if key not in _SOURCE_FIELDS:
            raise fail(f"source has unknown field {key!r}; its fields are {', '.join(_SOURCE_FIELDS)}")
        if not isinstance(value, _SOURCE_FIELDS[key]):
            raise fail(f"source field {key!r} must be {_SOURCE_FIELDS[key].__name__}")
    if "format" not in table or "path" not in table:
        raise fail("source needs 'format' and 'path'")
    try:
        return Source(**{k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}).check_inside_data_root()
    except UserError as exc:
        raise fail(f"source: {exc}") from None


def _parse_entry(entry: Any, origin: str, index: int) -> tuple[TaskSpec, tuple[str, ...]]:
    """One ``[[task]]`` table as a spec (members not yet resolved) and the names it averages."""

    def fail(problem: str) -> UserError:
        return _entry_error(origin, index, entry, problem)

    if not isinstance(entry, dict):
        raise fail("expected a table ([[task]])")
    _check_fields(entry, fail)
    if entry["type"] not in TASK_TYPES:
        raise fail(f"unknown type {entry['type']!r}; expected one of {', '.join(TASK_TYPES)}")
    try:
        name = safe_name(entry["name"], "the task name")
        split = safe_name(entry.get("split", DEFAULT_SPLIT), "the split")
    except UserError as exc:
        raise fail(str(exc)) from None
    main_score = entry.get("main_score", "cosine_spearman" if entry["type"] == "STS" else "ndcg_at_10")
    if not MAIN_SCORES[entry["type"]].fullmatch(main_score):
        raise fail(f"main_score {main_score!r} is not a score mteb reports for {entry['type']} "
                   f"(pattern {MAIN_SCORES[entry['type']].pattern})")
    score_range = entry.get("score_range", [0, 5])
    if len(score_range) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in score_range) \
            or score_range[0] >= score_range[1]:
        raise fail(f"score_range must be [low, high] with low < high, found {score_range!r}")
    if entry.get("query_max_length", 1) < 1:
        raise fail(f"query_max_length must be a positive number of tokens, found {entry['query_max_length']}")
    spec = TaskSpec(
        name=name,
        type=entry["type"],
        groups=tuple(entry.get("groups", ())),
        split=split,
        main_score=main_score,
        description=entry.get("description", ""),
        source=_parse_source(entry["source"], fail) if "source" in entry else None,
        metadata_from=entry.get("metadata_from"),
        reference=entry.get("reference"),
        caveat=entry.get("caveat"),
        score_range=(float(score_range[0]), float(score_range[1])),
        relevance_threshold=entry.get("relevance_threshold", 1),
        query_max_length=entry.get("query_max_length"),
        metadata=dict(entry.get("metadata", {})),
        mteb_data_hash=entry.get("mteb_data_hash"),
        origin=f"{origin}: task entry {index} ({name!r})",
    )
    return spec, tuple(entry.get("aggregate_of", ()))


def _read_toml(text: str, origin: str) -> list[Any]:
    tasks = parse_toml(text, origin, "task file").get("task", [])
    if not isinstance(tasks, list):
        raise UserError(f"{origin}: 'task' must be an array of tables ([[task]] entries)")
    return tasks


def _add_entries(tasks: dict[str, TaskSpec], text: str, origin: str) -> None:
    """Parse one catalogue file into ``tasks``, then resolve the tasks its entries average."""
    averages = []
    for index, entry in enumerate(_read_toml(text, origin), start=1):
        spec, averaged = _parse_entry(entry, origin, index)
        clash = next((known for known in tasks.values() if known.name.lower() == spec.name.lower()), None)
        if clash is not None:
            raise _entry_error(origin, index, entry, f"task {spec.name!r} is already defined ({clash.origin})")
        tasks[spec.name] = spec
        if averaged:
            averages.append((index, entry, spec, averaged))
    for index, entry, spec, averaged in averages:
        for member in averaged:
            if member not in tasks or tasks[member].source is None or tasks[member].type != spec.type:
                raise _entry_error(origin, index, entry, f"aggregate_of names {member!r}, which is not a "
                                                         f"{spec.type} task with data of its own")
        tasks[spec.name] = replace(spec, members=tuple(tasks[member] for member in averaged))


def load_catalogue(task_files: tuple[Path, ...] | list[Path] = ()) -> dict[str, TaskSpec]:
    """Every task of the packaged catalogue, then of each ``--task-file``, by name."""
    tasks: dict[str, TaskSpec] = {}
    folder = resources.files("hyperret_eval.task_definitions")
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            _add_entries(tasks, item.read_text(encoding="utf-8"), f"tasks/{item.name}")
    for path in task_files:
        text = read_text(Path(path), "task file", lambda message: UserError(f"--task-file {message}"),
                         max_bytes=MAX_TASK_FILE_BYTES)
        _add_entries(tasks, text, str(path))
    # Present STS before retrieval, whatever the file order.
    return dict(sorted(tasks.items(), key=lambda kv: TASK_TYPES.index(kv[1].type)))


def tasks_reading(folders: tuple[str, ...] | list[str], catalogue: dict[str, TaskSpec] | None = None) -> frozenset[str]:
    """The tasks whose data lies in one of ``folders`` (relative to the data root): what a
    model trained on those folders has seen, for mteb's ``training_datasets``."""
    trained_on = [PurePosixPath(folder) for folder in folders]
    return frozenset(
        spec.name for spec in (catalogue or load_catalogue()).values()
        if spec.source is not None
        and any(PurePosixPath(spec.source.path) == folder or folder in PurePosixPath(spec.source.path).parents
                for folder in trained_on)
    )


def groups(catalogue: dict[str, TaskSpec]) -> dict[str, list[TaskSpec]]:
    by_group: dict[str, list[TaskSpec]] = {}
    for spec in catalogue.values():
        for group in spec.groups:
            by_group.setdefault(group, []).append(spec)
    return by_group
