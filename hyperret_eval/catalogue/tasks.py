"""The task catalogue: what each benchmark task is, read from the TOML files in ``tasks/``.

A task is data (name, type, split, main score, where its data lies), not code; the MTEB
adapter in :mod:`hyperret_eval.integrations.mteb_tasks` turns an entry into an mteb task.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hyperret_eval.core.errors import UserError
from hyperret_eval.data.sources import Source

TASK_TYPES = ("STS", "Retrieval")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    type: str
    groups: tuple[str, ...]
    split: str
    main_score: str
    description: str
    source: Source
    metadata_from: str | None = None
    reference: str | None = None
    score_range: tuple[float, float] = (0.0, 5.0)
    relevance_threshold: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)

    def is_available(self, data_root: Path) -> bool:
        return self.source.is_available(data_root)


def _parse_entry(entry: dict[str, Any], origin: str) -> TaskSpec:
    try:
        source = Source(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry["source"].items()})
        spec = TaskSpec(
            name=entry["name"],
            type=entry["type"],
            groups=tuple(entry.get("groups", ())),
            split=entry.get("split", "test"),
            main_score=entry["main_score"],
            description=entry["description"],
            source=source,
            metadata_from=entry.get("metadata_from"),
            reference=entry.get("reference"),
            score_range=tuple(entry.get("score_range", (0, 5))),
            relevance_threshold=int(entry.get("relevance_threshold", 1)),
            metadata=dict(entry.get("metadata", {})),
        )
    except (KeyError, TypeError) as exc:
        raise UserError(f"{origin}: task entry {entry.get('name', '?')!r} is incomplete or malformed ({exc})") from None
    if spec.type not in TASK_TYPES:
        raise UserError(f"{origin}: task {spec.name!r} has unknown type {spec.type!r}; expected {TASK_TYPES}")
    return spec


def load_catalogue() -> dict[str, TaskSpec]:
    """Every task defined in the packaged catalogue, by name, in file order."""
    tasks: dict[str, TaskSpec] = {}
    folder = resources.files("hyperret_eval.task_definitions")
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".toml"):
            continue
        for entry in tomllib.loads(item.read_text(encoding="utf-8")).get("task", []):
            spec = _parse_entry(entry, item.name)
            if spec.name in tasks:
                raise UserError(f"{item.name}: task {spec.name!r} is defined twice in the catalogue")
            tasks[spec.name] = spec
    # Present STS before retrieval, whatever the file order.
    return dict(sorted(tasks.items(), key=lambda kv: TASK_TYPES.index(kv[1].type)))


def groups(catalogue: dict[str, TaskSpec]) -> dict[str, list[TaskSpec]]:
    by_group: dict[str, list[TaskSpec]] = {}
    for spec in catalogue.values():
        for group in spec.groups:
            by_group.setdefault(group, []).append(spec)
    return by_group


def _unknown(name: str, known: list[str]) -> UserError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return UserError(
        f"Unknown task or group {name!r}.{hint} Known groups and tasks: {', '.join(known)}. "
        "See `hyperret-eval list tasks`."
    )


def select_tasks(selection: str, data_root: Path, catalogue: dict[str, TaskSpec] | None = None) -> list[TaskSpec]:
    """Resolve ``--tasks`` (comma-separated task names and group names) to task specs.

    Groups expand to their members whose data is present under ``data_root``, except
    ``STS``, whose members must all be there (a missing one is reported when loaded);
    a task named on its own is always kept, so a missing dataset is explained, not skipped.
    """
    catalogue = catalogue if catalogue is not None else load_catalogue()
    by_group = groups(catalogue)
    lookup = {name.lower(): name for name in catalogue}
    group_lookup = {name.lower(): name for name in by_group}
    chosen: dict[str, TaskSpec] = {}
    for raw in (part.strip() for part in selection.split(",")):
        if not raw:
            continue
        key = raw.lower()
        if key in group_lookup:
            members = by_group[group_lookup[key]]
            if all(spec.type == "Retrieval" for spec in members):
                available = [spec for spec in members if spec.is_available(data_root)]
                if not available:
                    raise UserError(
                        f"Group {group_lookup[key]!r}: none of its datasets "
                        f"({', '.join(s.name for s in members)}) is under the data root {data_root}."
                    )
                members = available
            for spec in members:
                chosen.setdefault(spec.name, spec)
        elif key in lookup:
            spec = catalogue[lookup[key]]
            chosen.setdefault(spec.name, spec)
        else:
            raise _unknown(raw, [*by_group, *catalogue])
    if not chosen:
        raise UserError("--tasks is empty: name at least one task or group (see `hyperret-eval list tasks`).")
    return list(chosen.values())
