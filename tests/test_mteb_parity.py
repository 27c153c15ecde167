"""Our catalogue tasks score exactly what mteb's own tasks score on the same data.

Each check evaluates the packaged MiniLM twice with ``mteb.evaluate``: once on our task
(data read by our loaders), once on mteb's registered task of the same name with that
same data handed to it. Subsets keep this fast; the full figures are in results/.
"""

from __future__ import annotations

import copy

import mteb
import pytest

from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.data import sources
from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.integrations.mteb_tasks import build_task

from .conftest import make_small_beir

STS_PAIRS_PER_TASK = 120


def _evaluate(model, task):
    result = mteb.evaluate(model, task, cache=None, overwrite_strategy="always", show_progress_bar=False)
    return result.task_results[0]


def _reference_task(name, dataset):
    reference = mteb.get_task(name)
    reference.dataset = copy.deepcopy(dataset)
    reference.data_loaded = True
    return reference


@pytest.mark.slow
@pytest.mark.parametrize("name", ["STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICK-R"])
def test_sts_scores_equal_mteb(minilm, data_root, name):
    spec = load_catalogue()[name]
    pairs = sources.load(name, spec.source, spec.split, data_root)
    # Spread the subset over the whole file so every SemEval subset is represented.
    step = max(1, len(pairs) // STS_PAIRS_PER_TASK)
    pairs.sentence1, pairs.sentence2, pairs.scores = (col[::step] for col in (pairs.sentence1, pairs.sentence2, pairs.scores))
    ours = build_task(spec, pairs, dataset_path="subset", dataset_revision="subset")
    ours.load_data()
    reference = _reference_task(spec.metadata_from, ours.dataset)

    our_scores = _evaluate(minilm, ours).scores["test"][0]
    mteb_scores = _evaluate(minilm, reference).scores["test"][0]
    assert our_scores["main_score"] == pytest.approx(mteb_scores["main_score"], abs=5e-5)
    assert our_scores["cosine_pearson"] == pytest.approx(mteb_scores["cosine_pearson"], abs=5e-5)


@pytest.mark.slow
def test_scifact_scores_equal_mteb_and_ir_measures(minilm, data_root, tmp_path):
    spec = load_catalogue()["SciFact"]
    make_small_beir(data_root / "beir" / "scifact", tmp_path / "scifact", n_queries=25, n_extra_docs=150)
    data = read_beir_folder(tmp_path / "scifact", "test")
    ours = build_task(spec, data, dataset_path="subset", dataset_revision="subset")
    ours.load_data()
    reference = _reference_task("SciFact", ours.dataset)

    our_scores = _evaluate(minilm, ours).scores["test"][0]
    mteb_scores = _evaluate(minilm, reference).scores["test"][0]
    for metric in ("ndcg_at_10", "mrr_at_10", "recall_at_100", "map_at_1000"):
        assert our_scores[metric] == pytest.approx(mteb_scores[metric], abs=5e-5), metric
    # ir-measures on the same run agrees with mteb's pytrec_eval-based nDCG@10.
    assert our_scores["ir_measures:nDCG@10"] == pytest.approx(mteb_scores["ndcg_at_10"], abs=5e-5)
    assert 0.0 < our_scores["ndcg_at_10"] < 1.0


REPRODUCED_RETRIEVAL = [spec.name for spec in load_catalogue().values()
                        if spec.type == "Retrieval" and spec.metadata_from and not spec.members]


@pytest.fixture(scope="module")
def own_id_subset(data_root, tmp_path_factory):
    """A SciFact cut where each query also has a document of its own id and text, as in
    ArguAna and Quora: a task that should ignore such documents and does not scores lower."""
    from .beir_folders import beir_folder

    return read_beir_folder(beir_folder(data_root / "beir" / "scifact", tmp_path_factory.mktemp("own-id") / "cut",
                                        n_queries=6, n_extra_docs=30, own_id_docs=True), "test")


@pytest.mark.parametrize("name", REPRODUCED_RETRIEVAL)
def test_every_reproduced_retrieval_task_is_set_up_as_mtebs(own_id_subset, name):
    """Same metadata and the same scoring settings (ignore_identical_ids, k_values, ...)."""
    from hyperret_eval.integrations.mteb_tasks import RETRIEVAL_SETTINGS

    spec = load_catalogue()[name]
    ours = build_task(spec, own_id_subset, dataset_path="subset", dataset_revision="subset")
    reference = mteb.get_task(spec.metadata_from)
    for setting in RETRIEVAL_SETTINGS:
        assert getattr(ours, setting) == getattr(reference, setting), setting
    assert ours.metadata.eval_splits == [spec.split] and spec.split in reference.metadata.eval_splits
    assert (ours.metadata.main_score, ours.metadata.license, ours.metadata.bibtex_citation) == \
           (reference.metadata.main_score, reference.metadata.license, reference.metadata.bibtex_citation)
    assert ours.metadata.description == (spec.description or reference.metadata.description)


# One task per way mteb scores them: documents of the query's own id kept or ignored, a
# dev split, a NanoBEIR train split. The settings of all the others are checked above.
@pytest.mark.parametrize("name", ["NFCorpus", "ArguAna", "MSMARCO", "NanoArguAnaRetrieval"])
def test_reproduced_retrieval_tasks_score_as_mtebs(minilm, own_id_subset, name):
    spec = load_catalogue()[name]
    ours = build_task(spec, own_id_subset, dataset_path="subset", dataset_revision="subset")
    ours.load_data()
    reference = _reference_task(spec.metadata_from, ours.dataset)

    our_scores = _evaluate(minilm, ours).scores[spec.split][0]
    mteb_scores = _evaluate(minilm, reference).scores[spec.split][0]
    for metric in ("ndcg_at_10", "mrr_at_10", "recall_at_100", "map_at_1000"):
        assert our_scores[metric] == pytest.approx(mteb_scores[metric], abs=5e-5), metric


def test_the_own_id_documents_change_the_score(minilm, own_id_subset):
    """The check above can fail: counting the own-id documents scores ArguAna differently."""
    spec = load_catalogue()["ArguAna"]
    counted = build_task(spec, own_id_subset, dataset_path="subset", dataset_revision="subset")
    counted.ignore_identical_ids = False
    ignored = build_task(spec, own_id_subset, dataset_path="subset", dataset_revision="subset")
    assert ignored.ignore_identical_ids
    for task in (counted, ignored):
        task.load_data()
    assert _evaluate(minilm, counted).get_score() < _evaluate(minilm, ignored).get_score() - 0.05


@pytest.mark.slow
def test_the_cached_dense_search_scores_as_mteb(minilm, data_root, tmp_path):
    """What `run` evaluates a retrieval task with (the embedding cache, searched from its
    memmap) scores as mteb's own dense search, on its first run and on its second."""
    from hyperret_eval.core.world import World
    from hyperret_eval.integrations.mteb_sharded import search_model_for

    spec = load_catalogue()["SciFact"]
    make_small_beir(data_root / "beir" / "scifact", tmp_path / "scifact", n_queries=25, n_extra_docs=150)
    data = read_beir_folder(tmp_path / "scifact", "test")

    def task():
        ours = build_task(spec, data, dataset_path="subset", dataset_revision="subset")
        ours.load_data()
        return ours

    mteb_scores = _evaluate(minilm, task()).scores["test"][0]
    for _ in range(2):
        cached_scores = _evaluate(search_model_for(minilm, World(), cache_dir=tmp_path / "cache"), task()).scores["test"][0]
        for metric in ("ndcg_at_10", "mrr_at_10", "recall_at_100", "map_at_1000"):
            assert cached_scores[metric] == pytest.approx(mteb_scores[metric], abs=5e-5), metric
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 1
