"""`hyperret-eval run`: read the data, evaluate every model on every task through
``mteb.evaluate``, write the results, and report the main scores.

All user-input checks (task and model names, every data file, training data included)
happen before any training or evaluation, so a mistake never leaves a half-finished
results folder behind. A trainable model whose checkpoint is missing or incomplete is then
trained (:mod:`hyperret_eval.catalogue.checkpoints`) before the first evaluation.

Every result records the digest of the model it measured (its weights, configs and
tokenizer); a result in the output folder is reused only for a model with the same digest,
and never for a model ``--retrain`` trained again.

Each model x task shows as one unit of progress (:mod:`hyperret_eval.evaluation.progress`)
and leaves, beside its mteb result, the per-query scores its main score summarises
(:mod:`hyperret_eval.evaluation.per_query`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mteb

from hyperret_eval.catalogue.checkpoints import ensure_checkpoint
from hyperret_eval.catalogue.models import ResolvedModel
from hyperret_eval.catalogue.tasks import TaskSpec
from hyperret_eval.core import atomic
from hyperret_eval.core.bars import silence_library_bars
from hyperret_eval.core.distributed import init_world, resolve_device
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.core.library_internals import wrapped_sentence_transformer
from hyperret_eval.core.locks import exclusive_lock
from hyperret_eval.core.provenance import data_fingerprint, device_description, model_sha256
from hyperret_eval.core.seeding import seed_everything
from hyperret_eval.core.world import World
from hyperret_eval.data.beir import RetrievalCollection
from hyperret_eval.data.sts import STSPairs
from hyperret_eval.data.textfile import recording_digests
from hyperret_eval.evaluation import senteval_sts
from hyperret_eval.evaluation.encode_counter import counting_encoded_texts
from hyperret_eval.evaluation.per_query import per_query_path, save_per_query
from hyperret_eval.evaluation.progress import QUIET, Progress
from hyperret_eval.evaluation.results import (
    DATA_REVISION_KEY, PREDICTIONS_FOLDER, RunManifest, finished_result, model_folder, recorded_provenance,
    save_predictions, save_task_result,
)
from hyperret_eval.evaluation.run_options import CheckedRun, RunOptions, check_run
from hyperret_eval.evaluation.task_data import TaskData, available_tasks, load_task_data
from hyperret_eval.integrations.mteb_loader import load_for_mteb
from hyperret_eval.integrations.mteb_sharded import search_model_for
from hyperret_eval.integrations.mteb_tasks import build_task, per_item_scores

log = logging.getLogger(__name__)


@dataclass
class PreparedTask:
    spec: TaskSpec
    data: TaskData
    revision: str
    files_sha256: dict[str, str]

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def texts(self) -> int:
        """How many texts mteb encodes for the task: both sides of each pair, or the
        corpus and the queries (of each member of a task averaged over others)."""
        if isinstance(self.data, STSPairs):
            return 2 * len(self.data)
        parts = self.data.parts.values() if isinstance(self.data, RetrievalCollection) else [self.data]
        return sum(len(part.corpus) + len(part.queries) for part in parts)

    @property
    def what(self) -> str:
        return f"{self.size:,} {'pairs' if self.spec.type == 'STS' else 'queries'}"


@dataclass
class Score:
    model: str
    task: str
    task_type: str
    main_score: float
    scores: dict[str, Any]
    result_file: Path
    wall_time_s: float
    model_name: str = ""  # the model as its results name it (org/name), as published figures name it
    size: int = 0  # queries (retrieval) or pairs (STS) scored
    # False where the task declares the hash of mteb's own copy of its data and this data
    # is other (a subset, say): then no published figure is comparable with the score.
    comparable_data: bool = True


def prepare_tasks(specs: list[TaskSpec], data_root: Path, progress=print) -> list[PreparedTask]:
    """Read and check the data of every task (downloading what is missing, when online)."""
    prepared = []
    for spec in specs:
        with recording_digests() as read:  # hash the bytes parsed, not a second read of the files
            data = load_task_data(spec, data_root, progress)
        files_sha256, revision = data_fingerprint(data.files, data_root, read)
        prepared.append(PreparedTask(spec, data, revision, files_sha256))
    return prepared


def as_mteb_task(task: PreparedTask, data_root: Path, seed: int):
    """The mteb task that evaluates ``task``, naming where its data was read and its hash."""
    return build_task(task.spec, task.data, dataset_path=str(task.spec.location(data_root)),
                      dataset_revision=task.revision, seed=seed)


def evaluate_one(model, resolved: ResolvedModel, task: PreparedTask, options: RunOptions, run_record: dict,
                 world: World = World(), progress: Progress = QUIET, model_digest: str | None = None) -> Score | None:
    """Evaluate one model on one task; only rank 0 writes the result and its per-query
    file (and returns a Score). ``model_digest``: :func:`model_sha256` of the model's
    folder, recorded in the result (computed here when not given)."""
    mteb_task = as_mteb_task(task, options.data_root, options.seed)
    keep_predictions = options.save_predictions and world.is_main
    with tempfile.TemporaryDirectory(prefix="hyperret-predictions-") as staging, \
            progress.task(f"{resolved.key} on {task.spec.name}", task.texts, detail=task.what) as shown:
        started = time.perf_counter()
        with counting_encoded_texts(model, shown.advance):
            result = mteb.evaluate(
                search_model_for(model, world, query_max_length=task.spec.query_max_length)
                if task.spec.type == "Retrieval" else model,
                mteb_task,
                cache=None,
                overwrite_strategy="always",
                encode_kwargs={"batch_size": options.batch_size, "show_progress_bar": False},
                show_progress_bar=False,
                prediction_folder=staging if keep_predictions else None,
            )
        wall = time.perf_counter() - started
        if not world.is_main:
            return None
        task_result = result.task_results[0]
        # The data's own hash: the result's dataset_revision is mteb's where the data is mteb's dataset.
        provenance = {**resolved.provenance(), "model_sha256": model_digest or model_sha256(resolved.path),
                      "run": run_record, DATA_REVISION_KEY: task.revision}
        path = save_task_result(options.output_dir, model.mteb_model_meta, task_result, provenance)
        save_per_query(path, task_result, model.mteb_model_meta, task.spec.type, task.spec.split,
                       per_item_scores(mteb_task), data_revision=task.revision)
        shown.done(f"{task.spec.main_score} {100 * task_result.get_score():.2f}")
        # mteb writes predictions in place; they reach the results folder by atomic writes.
        for staged in Path(staging).glob("*.json") if keep_predictions else ():
            save_predictions(staged, path.parent / PREDICTIONS_FOLDER, run_name=_run_name(model.mteb_model_meta),
                             qrels=_qrels_by_task(task) if task.spec.type == "Retrieval" else None)
    return _score(resolved, task, task_result, path, wall)


def _qrels_by_task(task: PreparedTask) -> dict[str, dict[str, dict[str, int]]]:
    """The judgements of a retrieval task by task name: its own, or each member's."""
    if isinstance(task.data, RetrievalCollection):
        return {name: part.qrels for name, part in task.data.parts.items()}
    return {task.spec.name: task.data.qrels}


def _run_name(meta) -> str:
    """The run's tag in a TREC run file: one token naming the model and its revision."""
    return f"{meta.model_name_as_path()}@{meta.revision}"


def _score(resolved: ResolvedModel, task: PreparedTask, task_result, path: Path, wall_time_s: float) -> Score:
    split_scores = task_result.scores[task.spec.split][0]
    return Score(model=resolved.key, task=task.spec.name, task_type=task.spec.type,
                 main_score=float(task_result.get_score()),
                 scores={k: v for k, v in split_scores.items() if isinstance(v, (int, float))},
                 result_file=path, wall_time_s=wall_time_s, model_name=resolved.mteb_name, size=task.size,
                 comparable_data=task.spec.on_published_data(task.revision))


def _done_already(resolved: ResolvedModel, task: PreparedTask, options: RunOptions, model_digest: str) -> Score | None:
    """The score of a model x task whose result an earlier run left in the output folder,
    computed on the same data by the same model (its recorded :func:`model_sha256` is
    ``model_digest``; a result that records none is not trusted), and with its retrieval
    run kept if --save-predictions asks for it, as mteb's default overwrite strategy
    reuses a finished result."""
    folder = model_folder(options.output_dir, resolved.mteb_name, resolved.revision)
    result = finished_result(folder, task.spec.name, task.revision)
    if result is None or task.spec.split not in result.scores:
        return None
    path = folder / f"{task.spec.name}.json"
    if recorded_provenance(path).get("model_sha256") != model_digest:
        return None
    kept_run = folder / PREDICTIONS_FOLDER / f"{task.spec.name}_predictions.json"
    if options.save_predictions and task.spec.type == "Retrieval" and not kept_run.is_file():
        return None
    if not per_query_path(path).is_file():  # a result from before per-query files: evaluate it again to keep them
        return None
    return _score(resolved, task, result, path, float(result.evaluation_time or 0.0))


@dataclass
class RunReport:
    scores: list[Score]
    senteval: dict[str, dict]  # model key -> SentEval-protocol report (this run's STS tasks)


def _senteval_file(resolved: ResolvedModel, options: RunOptions) -> Path:
    return model_folder(options.output_dir, resolved.mteb_name, resolved.revision) / "senteval" / "STS.json"


def _senteval_report(model, resolved: ResolvedModel, sets: senteval_sts.LoadedSets, options: RunOptions,
                     progress: Progress) -> dict:
    """The papers' STS protocol for one model on ``sets``, written beside its MTEB results
    (over the sets an earlier run of the same model left in the file)."""
    with progress.task(f"{resolved.key} on the SentEval STS protocol", sets.texts,
                       detail=f"{', '.join(sets.by_set)}: {sets.pairs:,} pairs") as shown, \
            counting_encoded_texts(model, shown.advance):
        report = senteval_sts.evaluate(wrapped_sentence_transformer(model).encode, sets, options.batch_size)
        shown.done()
    _merge_senteval_file(_senteval_file(resolved, options), resolved, report)
    return report


def _merge_senteval_file(target: Path, resolved: ResolvedModel, report: dict) -> None:
    """Add ``report``'s sets to the model's SentEval file, under a lock beside it, so that
    runs of the same model writing at once each keep their sets."""
    lock = target.with_name(f".{target.name}.lock")
    with exclusive_lock(lock, on_wait=lambda: log.info("Waiting for another run writing %s", target)):
        try:
            previous = read_json(target, "SentEval protocol report") if target.is_file() else None
        except UserError:
            previous = None  # unreadable: this run's report replaces it
        atomic.write_json(target, {"model": resolved.mteb_name, "revision": resolved.revision,
                                   **senteval_sts.merged(previous, report)})


def run(options: RunOptions, progress: Progress = Progress(), checked: CheckedRun | None = None) -> RunReport:
    """``checked``: what :func:`check_run` returned for ``options``, if it was called already."""
    checked = checked or check_run(options)
    selection, models = checked.selection, checked.models
    device = resolve_device(options.device)
    tasks = prepare_tasks(available_tasks(selection, options.data_root, progress.note), options.data_root,
                          progress.note)
    senteval_sets = _senteval_sets(options, tasks, progress)
    world = init_world(device)
    device = world.device(device)
    if not world.is_main:
        progress = QUIET
    silence_library_bars()  # models and data are fetched (with their download bars); the rest shows ours
    for resolved in models:
        if resolved.checkpoint is not None:
            ensure_checkpoint(resolved.checkpoint, resolved.key, device, retrain=options.retrain,
                              train_missing=options.train_missing, announce=progress.message)
    # What each model's results will record, and reuse needs: computed once its weights are final.
    digests = {resolved.key: model_sha256(resolved.path) for resolved in models}

    manifest = RunManifest(
        options.output_dir,
        options.argv,
        settings={
            "tasks": [t.spec.name for t in tasks],
            "models": [{"key": m.key, "name": m.mteb_name, "revision": m.revision} for m in models],
            "data_root": str(options.data_root),
            "device": device_description(device),
            "batch_size": options.batch_size,
            "seed": options.seed,
        },
    )
    for task in tasks:
        manifest.add_dataset(task.spec.name, task.files_sha256, task.revision, task.size)

    scores: list[Score] = []
    senteval: dict[str, dict] = {}
    for resolved in models:
        seed_everything(options.seed)
        model = None  # loaded when a task needs it: a model with every result done is not loaded
        for task in tasks:
            if resolved.kind == "hypencoder" and task.spec.type != "Retrieval":
                progress.note(f"Skipping {task.spec.name} for {resolved.key}: a Hypencoder ranks passages for a "
                              f"query, it does not embed sentences for {task.spec.type}")
                continue
            if not world.is_main and task.spec.type != "Retrieval":
                continue  # only retrieval is sharded; rank 0 runs the rest alone
            retrained = options.retrain and resolved.checkpoint is not None
            done = None if options.overwrite or retrained else _done_already(resolved, task, options,
                                                                            digests[resolved.key])
            if done is not None:
                progress.note(f"Skipping {resolved.key} on {task.spec.name}: its result is in {done.result_file} "
                              "(--overwrite evaluates it again)")
                scores.append(done)
                continue
            if model is None:
                progress.message(f"Loading model {resolved.key} ({resolved.describe}) on {device}")
                model = load_for_mteb(resolved, device)
            score = evaluate_one(model, resolved, task, options, manifest.summary(), world, progress,
                                 digests[resolved.key])
            if score is None:
                continue
            scores.append(score)
            manifest.add_result(
                {
                    "model": resolved.mteb_name,
                    "revision": resolved.revision,
                    "task": score.task,
                    "main_score": score.main_score,
                    "wall_time_s": round(score.wall_time_s, 2),
                    "result_file": str(score.result_file.relative_to(options.output_dir)),
                }
            )
        if senteval_sets is not None and world.is_main and resolved.kind == "sentence-transformers":
            kept = _senteval_file(resolved, options)
            if model is None and kept.is_file():  # every STS task was done before: so was its protocol
                progress.note(f"Skipping the SentEval STS protocol for {resolved.key}: its STS results were kept, "
                              f"and its report is in {kept} (--overwrite evaluates it again)")
            else:
                started = time.perf_counter()
                senteval[resolved.key] = _senteval_report(model or load_for_mteb(resolved, device), resolved,
                                                          senteval_sets, options, progress)
                manifest.add_senteval({"model": resolved.mteb_name, "revision": resolved.revision,
                                       "tasks": list(senteval_sets.by_set),
                                       "wall_time_s": round(time.perf_counter() - started, 2)})
    if world.is_main:
        manifest.finish()
    return RunReport(scores, senteval)


def _senteval_sets(options: RunOptions, tasks: list[PreparedTask], progress: Progress) -> senteval_sts.LoadedSets | None:
    """SentEval's copies of the STS tasks the run was asked for, read and checked now
    (before any model runs); None when the protocol is off, has no task, or its copies are missing."""
    sets = senteval_sts.sets_for(t.spec.name for t in tasks if t.spec.type == "STS")
    if not options.senteval or not sets:
        return None
    if not senteval_sts.available(options.data_root, sets):
        progress.note(f"SentEval copies of the STS data are not under {options.data_root}: "
                      "skipping the papers' protocol")
        return None
    progress.note(f"Also running the SimCSE/HiCL papers' STS protocol on SentEval's copies of "
                  f"{', '.join(s.name for s in sets)}: those copies are lower-cased and tokenized, so their "
                  "texts are encoded anew (MTEB's embeddings cannot be reused), which takes about as long again "
                  "as MTEB's STS evaluation; --no-senteval skips it")
    return senteval_sts.load(options.data_root, sets)
