"""Catalogue entries as mteb tasks, so that ``mteb.evaluate`` and its evaluators score them.

Each task is a subclass of mteb's ``AbsTaskSTS`` or ``AbsTaskRetrieval`` whose data comes
from our data layer (already read and checked) instead of the Hugging Face hub. Retrieval
tasks add ir-measures' nDCG@10, MRR@10, Recall@100 and MAP to mteb's own scores, computed
on the very run mteb scored.
"""

from __future__ import annotations

from typing import Any

import mteb
from datasets import Dataset
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata

from hyperret_eval.catalogue.tasks import TaskSpec
from hyperret_eval.data.beir import RetrievalData
from hyperret_eval.data.sts import STSPairs
from hyperret_eval.integrations import ir_metrics


def task_metadata(spec: TaskSpec, dataset_path: str, dataset_revision: str) -> TaskMetadata:
    """mteb metadata for a catalogue entry.

    ``dataset`` records where the data was read and its content fingerprint, so a result
    file names the exact data it was computed on. Descriptive fields (domains, licence,
    citation) come from the mteb task named by ``metadata_from``, else from the entry.
    """
    own: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
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
    if spec.reference:
        own["reference"] = spec.reference
    if spec.metadata_from:
        base = mteb.get_task(spec.metadata_from).metadata
        return base.model_copy(update=own)
    return TaskMetadata(**{**spec.metadata, **own})


class CatalogueSTSTask(AbsTaskSTS):
    """An STS catalogue entry; mteb's STS evaluator computes the correlations."""

    def __init__(self, spec: TaskSpec, pairs: STSPairs, **kwargs: Any) -> None:
        self.min_score, self.max_score = spec.score_range
        self._pairs = pairs
        super().__init__(**kwargs)

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
        return ir_metrics.aggregate(qrels, results, self._relevance_threshold)


def build_task(
    spec: TaskSpec, data: STSPairs | RetrievalData, dataset_path: str, dataset_revision: str, seed: int = 42
) -> CatalogueSTSTask | CatalogueRetrievalTask:
    """The mteb task for a catalogue entry and its loaded data.

    mteb keeps a task's metadata on its class (``unload_data`` falls back to it), so each
    entry gets a subclass of its own, as every task in mteb's registry has.
    """
    base = CatalogueSTSTask if spec.type == "STS" else CatalogueRetrievalTask
    class_name = "".join(ch for ch in spec.name.title() if ch.isalnum()) + "Task"
    task_class = type(class_name, (base,), {"metadata": task_metadata(spec, dataset_path, dataset_revision)})
    return task_class(spec, data, seed=seed)
