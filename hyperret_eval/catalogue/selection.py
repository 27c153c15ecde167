"""What ``--tasks`` names: catalogue tasks, groups of them, and BEIR-layout folders of
the user's own, resolved to the tasks to run (a group's retrieval datasets optional)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from hyperret_eval.catalogue.tasks import DEFAULT_SPLIT, TaskSpec, groups, load_catalogue
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.paths import safe_name
from hyperret_eval.data.sources import Source


def folder_task(entry: str, split: str | None) -> TaskSpec:
    """A BEIR-layout folder named in ``--tasks``, as a retrieval task named after the folder.

    Only its files are read: nothing in it is imported or run."""
    folder = Path(entry).expanduser().resolve()
    if not folder.is_dir():
        raise UserError(f"--tasks {entry!r}: there is no folder at {folder} (an entry with a '/' is a "
                        "BEIR-layout folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    try:
        name = safe_name(folder.name, f"--tasks {entry!r}: the folder name")
        split = safe_name(split or DEFAULT_SPLIT, "--split")
    except UserError as exc:
        raise UserError(f"{exc}; it names the task and its result file") from None
    return TaskSpec(
        name=name, type="Retrieval", groups=(), split=split, main_score="ndcg_at_10",
        description=f"The BEIR-layout folder {folder}.", source=Source(format="beir", path=str(folder)),
        origin=f"--tasks {entry}",
    )


def _is_folder_entry(entry: str) -> bool:
    return "/" in entry or "\\" in entry or entry.startswith("~")


@dataclass(frozen=True)
class Selection:
    """The tasks ``--tasks`` names, in order. ``optional`` holds those reached only through
    a group of retrieval datasets: one that is missing and cannot be fetched is skipped
    (and named), where a task named on its own is an error."""

    tasks: list[TaskSpec]
    optional: frozenset[str]


def _unknown(name: str, known: list[str]) -> UserError:
    # Names the text begins (STS1: STS12 ... STS16), in catalogue order, then the closest others.
    starting = [k for k in known if k.lower().startswith(name.lower())][:5]
    close = starting or difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    folder = f" A folder {name!r} exists here: write ./{name} to evaluate it." if Path(name).is_dir() else ""
    return UserError(
        f"Unknown task or group {name!r}.{hint}{folder} Known groups and tasks: {', '.join(known)}. "
        "See `hyperret-eval list tasks`."
    )


def select_tasks(selection: str, catalogue: dict[str, TaskSpec] | None = None, split: str | None = None) -> Selection:
    """Resolve ``--tasks`` (comma-separated task names, group names and folders) to tasks.

    A group of retrieval datasets (BEIR, NanoBEIR, ...) makes its members optional; the
    members of ``STS`` must all be there. ``split`` applies to folders only.
    """
    catalogue = catalogue if catalogue is not None else load_catalogue()
    by_group = groups(catalogue)
    lookup = {name.lower(): name for name in catalogue}
    group_lookup = {name.lower(): name for name in by_group}
    chosen: dict[str, TaskSpec] = {}
    optional: set[str] = set()
    folders = 0
    for raw in (part.strip() for part in selection.split(",")):
        if not raw:
            continue
        key = raw.lower()
        if key in group_lookup:
            members = by_group[group_lookup[key]]
            skippable = all(spec.type == "Retrieval" for spec in members)
            for spec in members:
                if spec.name not in chosen and skippable:
                    optional.add(spec.name)
                chosen.setdefault(spec.name, spec)
        elif key in lookup:
            spec = catalogue[lookup[key]]
            optional.discard(spec.name)
            chosen.setdefault(spec.name, spec)
        elif _is_folder_entry(raw):
            spec = folder_task(raw, split)
            if spec.name in chosen:
                raise UserError(f"--tasks {raw!r}: a task named {spec.name!r} is already selected")
            chosen[spec.name] = spec
            folders += 1
        else:
            raise _unknown(raw, [*by_group, *catalogue])
    if not chosen:
        raise UserError("--tasks is empty: name at least one task or group (see `hyperret-eval list tasks`).")
    if split is not None and not folders:
        raise UserError("--split applies to folders given in --tasks (catalogue tasks use the split mteb "
                        "evaluates); no folder was given")
    return Selection(list(chosen.values()), frozenset(optional))
