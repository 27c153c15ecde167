"""Catalogue entries as mteb tasks, so that ``mteb.evaluate`` and its evaluators score them.

Each task is a subclass of mteb's ``AbsTaskSTS`` or ``AbsTaskRetrieval`` whose data comes
from our data layer (already read and checked) instead of the Hugging Face hub. Retrieval
tasks add ir-measures' nDCG@10, MRR@10, Recall@100, MAP and Recall@1000 to mteb's own scores, computed
on the very run mteb scored. A task averaged over others (CQADupstack) is mteb's
``AbsTaskAggregate`` over our tasks, so mteb evaluates the members and averages them.

Each task also keeps what its score is a summary of (:func:`per_item_scores`): every
query's ir-measures values for retrieval, every pair's gold score and predicted
similarity for STS, so that two models can be compared query by query or pair by pair.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import mteb
from datasets import Dataset
from mteb.abstasks.abstask import AbsTask
from mteb.abstasks.aggregated_task import AbsTaskAggregate
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata

from hyperret_eval.catalogue.tasks import TaskSpec
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.library_internals import STSPairScoresHook
from hyperret_eval.data.beir import RetrievalCollection, RetrievalData
from hyperret_eval.data.sts import STSPairs
from hyperret_eval.integrations import ir_metrics

# How mteb's own retrieval tasks are scored, beyond their metadata: ArguAna, Quora, FiQA,
# FEVER and MSMARCO drop a document whose id is the query's own.
RETRIEVAL_SETTINGS = ("ignore_identical_ids", "skip_first_result", "k_values")


@cache
def _registered(name: str) -> AbsTask:
    """mteb's own task of that name (mteb builds a new one on each lookup)."""
    return mteb.get_task(name)


def check_task(spec: TaskSpec) -> None:
    """Fail now, naming the entry, if mteb would refuse the task once data is loaded."""
    try:
        task_metadata(spec, "check", "check")
    except UserError:
        raise
    except Exception as exc:  # mteb's KeyError for an unknown task, pydantic's ValidationError
        raise UserError(f"{spec.origin}: mteb cannot describe this task: {exc}") from None


def expected_documents(spec: TaskSpec) -> int | None:
    """The corpus size of the split mteb evaluates, from mteb's descriptive statistics."""
    if spec.members:
        sizes = [expected_documents(member) for member in spec.members]
        return None if None in sizes else sum(sizes)
    if not spec.metadata_from:
        return None
    stats = (_registered(spec.metadata_from).metadata.descriptive_stats or {}).get(spec.split) or {}
    return stats.get("num_documents")


def task_metadata(spec: TaskSpec, dataset_path: str, dataset_revision: str) -> TaskMetadata:
    """mteb metadata for a catalogue entry.

    ``dataset`` records where the data was read and its content fingerprint, so a result
    file names the exact data it was computed on; for data known to be the dataset of the
    mteb task it reproduces (``mteb_data_hash``), mteb's dataset path and revision, as
    mteb's own result would (the fingerprint is kept in the result's provenance). Descriptive fields (domains, licence,
    citation) come from the mteb task named by ``metadata_from``, else from the entry.
    """
    own: dict[str, Any] = {
        "name": spec.name,
        "dataset": {"path": dataset_path, "revision": dataset_revision},
        "type": spec.type,
        "category": "t2t",
        "modalities": ["text"],
        "eval_splits": [spec.split],
        "eval_langs": ["eng-Latn"],
        "main_score": spec.main_score,
        # MTEB marks STSBenchmark superseded by a de-duplicated v2; the catalogue entry is
        # the original on purpose (it is the one the literature reports).
        "superseded_by": None,
    }
    if spec.description:
        own["description"] = spec.description
    if spec.reference:
        own["reference"] = spec.reference
    if spec.metadata_from:
        base = _registered(spec.metadata_from).metadata
        if spec.mteb_data_hash is not None and spec.mteb_data_hash == dataset_revision:
            own["dataset"] = dict(base.dataset)  # mteb's own dataset: its path and revision
        if spec.members:
            own.pop("category")  # an aggregate's own fields, computed by mteb from its tasks, stay
        return base.model_copy(update=own)
    if spec.members:
        raise UserError(f"{spec.origin}: a task averaged over others needs 'metadata_from' naming mteb's "
                        "aggregate task")
    return TaskMetadata(**{**spec.metadata, **own})


# mteb's STS evaluator's per-pair predictions behind each main score's correlation.
_STS_SIMILARITIES = {"cosine": "cosine_scores", "manhattan": "manhattan_distances", "euclidean": "euclidean_distances"}


class CatalogueSTSTask(STSPairScoresHook, AbsTaskSTS):
    """An STS catalogue entry; mteb's STS evaluator computes the correlations."""

    def __init__(self, spec: TaskSpec, pairs: STSPairs, **kwargs: Any) -> None:
        self.min_score, self.max_score = spec.score_range
        self._pairs = pairs
        self.pair_scores: dict[str, Any] | None = None  # filled by the evaluation
        super().__init__(**kwargs)

    def keep_pair_scores(self, scores) -> None:
        """Each pair's gold score and the similarity that the main score correlates with
        it, in the data's order."""
        function = self.metadata.main_score.split("_")[0]
        if function in _STS_SIMILARITIES:
            predicted = scores[_STS_SIMILARITIES[function]]
        else:  # pearson/spearman: the model's own similarity function, cosine without one
            function = "model" if scores["similarity_scores"] is not None else "cosine"
            predicted = scores["similarity_scores" if function == "model" else "cosine_scores"]
        if len(predicted) != len(self._pairs):
            raise RuntimeError(f"{self.metadata.name}: mteb scored {len(predicted)} pairs of {len(self._pairs)}")
        self.pair_scores = {"similarity_function": function, "correlation": self.metadata.main_score.split("_")[-1],
                            "pairs": {"gold": list(self._pairs.scores), "similarity": [float(x) for x in predicted]}}

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        table = {
            "sentence1": self._pairs.sentence1,
            "sentence2": self._pairs.sentence2,
            "score": self._pairs.scores,
        }
        self.dataset = {self.metadata.eval_splits[0]: Dataset.from_dict(table)}
        self.data_loaded = True


class CatalogueRetrievalTask(AbsTaskRetrieval):
    """A retrieval catalogue entry; mteb searches and scores, ir-measures adds its metrics."""

    def __init__(self, spec: TaskSpec, data: RetrievalData, **kwargs: Any) -> None:
        self._data = data
        self._relevance_threshold = spec.relevance_threshold
        self.query_scores: dict[str, Any] | None = None  # filled by the evaluation
        super().__init__(**kwargs)

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        corpus = Dataset.from_dict(
            {
                "id": list(self._data.corpus),
                "title": [doc["title"] for doc in self._data.corpus.values()],
                "text": [doc["text"] for doc in self._data.corpus.values()],
            }
        )
        queries = Dataset.from_dict({"id": list(self._data.queries), "text": list(self._data.queries.values())})
        split = self.metadata.eval_splits[0]
        self.dataset = {
            "default": {
                split: {
                    "corpus": corpus,
                    "queries": queries,
                    "relevant_docs": self._data.qrels,
                    "top_ranked": None,
                }
            }
        }
        self.data_loaded = True

    def task_specific_scores(
        self,
        scores: dict[str, dict[str, float]],
        qrels: dict[str, dict[str, int]],
        results: dict[str, dict[str, float]],
        hf_split: str,
        hf_subset: str,
    ) -> dict[str, float]:
        main_measure = ir_metrics.measure_of(self.metadata.main_score)
        run_scores = ir_metrics.evaluate_run(qrels, results, self._relevance_threshold,
                                             also=[main_measure] if main_measure else [])
        measures = [str(m) for m in ir_metrics.report_measures(self._relevance_threshold)]
        if main_measure and main_measure not in measures:
            measures.append(main_measure)
        self.query_scores = {"measures": measures, "main_measure": main_measure, "queries": run_scores.per_query}
        return run_scores.means


def per_item_scores(task: AbsTask) -> dict[str, Any]:
    """What an evaluated task's score summarises: ``{"queries": {query id: {measure:
    value}}, "measures", "main_measure"}`` for retrieval, ``{"pairs": {"gold": [...],
    "similarity": [...]}, "similarity_function"}`` for STS, ``{"members": {task name:
    ...}}`` for a task averaged over others."""
    if isinstance(task, AbsTaskAggregate):
        return {"members": {member.metadata.name: per_item_scores(member) for member in task.metadata.tasks}}
    kept = getattr(task, "query_scores", None) or getattr(task, "pair_scores", None)
    if kept is None:
        raise RuntimeError(f"{task.metadata.name} has not been evaluated by mteb")
    return kept


def build_task(
    spec: TaskSpec, data: STSPairs | RetrievalData | RetrievalCollection, dataset_path: str, dataset_revision: str,
    seed: int = 42,
) -> CatalogueSTSTask | CatalogueRetrievalTask | AbsTaskAggregate:
    """The mteb task for a catalogue entry and its loaded data.

    mteb keeps a task's metadata on its class (``unload_data`` falls back to it), so each
    entry gets a subclass of its own, as every task in mteb's registry has; an entry that
    reproduces an mteb retrieval task also takes that task's scoring settings.
    """
    class_name = "".join(ch for ch in spec.name.title() if ch.isalnum()) + "Task"
    if spec.members:
        members = [build_task(member, data.parts[member.name], str(data.parts[member.name].files[0].parent),
                              dataset_revision, seed) for member in spec.members]
        metadata = task_metadata(spec, dataset_path, dataset_revision).model_copy(update={"tasks": members})
        return type(class_name, (AbsTaskAggregate,), {"metadata": metadata})(seed=seed)
    attributes: dict[str, Any] = {"metadata": task_metadata(spec, dataset_path, dataset_revision)}
    base = CatalogueSTSTask if spec.type == "STS" else CatalogueRetrievalTask
    if spec.metadata_from and base is CatalogueRetrievalTask:
        reference = type(_registered(spec.metadata_from))
        attributes.update({name: getattr(reference, name) for name in RETRIEVAL_SETTINGS})
    return type(class_name, (base,), attributes)(spec, data, seed=seed)
