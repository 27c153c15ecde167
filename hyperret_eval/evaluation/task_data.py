"""The data of the selected tasks: fetched when missing and online, read and checked.

A task named on its own must have its data (or get it): otherwise the run stops with the
reason. A task reached through a group of retrieval datasets (``BEIR``, ``NanoBEIR``) is
skipped when its data is missing and cannot be fetched; the run goes on with the rest
and names each skipped task, where its data belongs and how to get it. After one failed
download no other is tried, so an offline machine is told once, not once per dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hyperret_eval.catalogue.selection import Selection
from hyperret_eval.catalogue.tasks import TaskSpec
from hyperret_eval.core.errors import DataNotFoundError, UserError
from hyperret_eval.data import download, sources
from hyperret_eval.data.beir import RetrievalCollection, RetrievalData
from hyperret_eval.data.sts import STSPairs
from hyperret_eval.integrations.mteb_tasks import check_task, expected_documents

LARGE_CORPUS = 1_000_000  # documents; fetching (and encoding) more gets a warning first

TaskData = STSPairs | RetrievalData | RetrievalCollection


def _leaves(spec: TaskSpec) -> tuple[TaskSpec, ...]:
    """The tasks whose own data a task reads: itself, or the members it averages."""
    return spec.members or (spec,)


def _warn_if_large(spec: TaskSpec, data_root: Path, progress: Callable[[str], None]) -> None:
    documents = expected_documents(spec)
    shared = spec.source.corpus_path(data_root) if spec.source is not None and spec.source.corpus else None
    corpus = shared or spec.location(data_root)
    if documents and documents > LARGE_CORPUS and not (shared.exists() if shared else spec.is_available(data_root)):
        progress(f"Warning: {spec.name} is large: {documents:,} documents (mteb's count) to download into "
                 f"{corpus}, and every model evaluated on it encodes them all.")


def _fetch(spec: TaskSpec, data_root: Path, progress: Callable[[str], None]) -> None:
    """Download whatever of ``spec``'s data is missing."""
    _warn_if_large(spec, data_root, progress)
    for leaf in _leaves(spec):
        if not leaf.is_available(data_root):  # checked one by one: one zip may bring several members
            sources.fetch(leaf.name, leaf.source, leaf.split, data_root)


def load_task_data(spec: TaskSpec, data_root: Path, progress: Callable[[str], None] = print) -> TaskData:
    """Read and check one task's data, downloading what is missing first (when online)."""
    check_task(spec)
    _warn_if_large(spec, data_root, progress)
    if spec.members:
        return RetrievalCollection({member.name: load_task_data(member, data_root, progress)
                                    for member in spec.members})
    data = sources.load(spec.name, spec.source, spec.split, data_root)
    expected = STSPairs if spec.type == "STS" else RetrievalData
    if not isinstance(data, expected):
        raise UserError(f"task {spec.name}: a {spec.type} task cannot read data in the {spec.source.format} format")
    return data


def _present(spec: TaskSpec, data_root: Path) -> bool:
    """Whether the task's data is there, its split included: a BEIR folder shared by two
    tasks (MS MARCO's: dev for MSMARCO, test for TRECDL2019) may hold one split only."""
    return all(leaf.is_available(data_root) and (leaf.source.format != "beir" or
                                                 (leaf.location(data_root) / "qrels" / f"{leaf.split}.tsv").is_file())
               for leaf in _leaves(spec))


def how_to_get(spec: TaskSpec, data_root: Path) -> str:
    """Where a task's data belongs under the data root, and where it comes from."""
    leaves = [leaf for leaf in _leaves(spec) if not _present(leaf, data_root)]
    places = ", ".join(leaf.source.where(data_root, leaf.split) for leaf in leaves[:3])
    more = f" and {len(leaves) - 3} more" if len(leaves) > 3 else ""
    return f"{spec.name}: put it at {places}{more} in the {leaves[0].source.format} layout; {leaves[0].source.describe_fetch()}"


def available_tasks(selection: Selection, data_root: Path, progress: Callable[[str], None]) -> list[TaskSpec]:
    """The selected tasks to run: all but the group members that are missing and could not
    be fetched, which are named through ``progress``. None left is an error."""
    ready: list[TaskSpec] = []
    skipped: list[TaskSpec] = []
    failure = f"offline mode is set ({download.offline_variable()})" if download.offline_requested() else None
    for spec in selection.tasks:
        if spec.name not in selection.optional or _present(spec, data_root):
            ready.append(spec)
            continue
        if failure is None:
            try:
                _fetch(spec, data_root, progress)
                ready.append(spec)
                continue
            except DataNotFoundError as exc:
                failure = f"downloading {spec.name} failed ({exc}); no further download was tried"
        skipped.append(spec)
    if skipped:
        lines = "\n  ".join(how_to_get(spec, data_root) for spec in skipped)
        note = (f"{len(skipped)} of the selected tasks, whose data is not under {data_root} and could not be "
                f"fetched ({failure}):\n  {lines}")
        if not ready:
            raise DataNotFoundError(f"None of the selected tasks has its data: {note}")
        progress(f"Skipping {note}")
    return ready
