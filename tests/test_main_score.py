"""The paired test follows the task's main score: a retrieval task keeps each query's value
of the ir-measures measure equal to its mteb main score (whichever it is) and pairs on it;
an STS task whose main score is a Pearson correlation is bootstrapped on Pearson's."""

from __future__ import annotations

import mteb  # noqa: F401  (first: the registration hook runs as mteb loads)
import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from hyperret_eval.integrations.ir_metrics import measure_of
from hyperret_eval.leaderboard.significance import NotComparable, compare
from hyperret_eval.models.hypencoder import Hypencoder
from tests.conftest import official_hypencoder

TOPICS = ["protein folding", "vitamin d", "sleep apnea", "gene editing", "malaria", "insulin"]
DOC_IDS = [f"d{i}" for i in range(24)]
TEXTS = [f"A study of {TOPICS[i % 6]} in cohort {i}" for i in range(24)]
QUERIES = {"q0": "what causes malaria?", "q1": "does vitamin d help?", "q2": "gene editing ethics",
           "q3": "insulin and ageing"}
QRELS = {"q0": {"d4": 1, "d10": 2, "d3": 1}, "q1": {"d1": 1, "d7": 1, "d8": 1}, "q2": {"d3": 2, "d9": 1},
         "q3": {"d5": 1, "d0": 1, "d11": 1, "d17": 1}}


@pytest.mark.parametrize("main_score, measure", [("ndcg_at_10", "nDCG@10"), ("map_at_10", "AP@10"),
                                                 ("recall_at_5", "R@5"), ("precision_at_3", "P@3"),
                                                 ("mrr_at_10", "RR@10")])
def test_each_retrieval_main_score_keeps_its_own_per_query_values(main_score, measure, tmp_path):
    from hyperret_eval.catalogue.tasks import TaskSpec
    from hyperret_eval.data.beir import RetrievalData
    from hyperret_eval.data.sources import Source
    from hyperret_eval.integrations.mteb_search import HypencoderMTEBSearch
    from hyperret_eval.integrations.mteb_tasks import build_task, per_item_scores

    assert measure_of(main_score) == measure
    data = RetrievalData({d: {"title": "", "text": t} for d, t in zip(DOC_IDS, TEXTS)}, QUERIES, QRELS, [])
    spec = TaskSpec(name="SmallTask", type="Retrieval", groups=(), split="test", main_score=main_score,
                    description="a small retrieval task", source=Source(format="beir", path="x"))
    task = build_task(spec, data, "local", "rev")
    model = HypencoderMTEBSearch(Hypencoder.from_pretrained(official_hypencoder()).eval(), mteb_model_meta=None,
                                 batch_size=8, cache_dir=tmp_path)
    scores = task.evaluate(model, "test", encode_kwargs={"batch_size": 8, "show_progress_bar": False})["default"]
    kept = per_item_scores(task)
    assert kept["main_measure"] == measure and measure in kept["measures"]
    values = [kept["queries"][q][measure] for q in QRELS]
    assert np.mean(values) == pytest.approx(scores[main_score], abs=5e-6)  # mteb rounds to 5 decimals
    assert scores["main_score"] == scores[main_score]


def test_a_main_score_without_a_per_query_measure_is_said_in_words():
    body = {"task_type": "Retrieval", "dataset_revision": "r", "main_measure": None,
            "queries": {"q1": {"nDCG@10": 0.5}, "q2": {"nDCG@10": 0.7}}}
    with pytest.raises(NotComparable, match="no per-query measure equals the task's main score"):
        compare("T", body, body)


def _sts(gold, similarity, correlation=None) -> dict:
    body = {"task_type": "STS", "dataset_revision": "r",
            "pairs": {"gold": list(map(float, gold)), "similarity": list(map(float, similarity))}}
    return body if correlation is None else {**body, "correlation": correlation}


def test_a_pearson_main_score_is_bootstrapped_on_pearson():
    generator = np.random.default_rng(3)
    gold = generator.uniform(0, 5, 300)
    # Monotone but far from linear: ranks perfectly, correlates linearly less well than ...
    monotone = np.exp(gold * 2.0)
    # ... a linear similarity with noise, which ranks worse.
    linear = gold + generator.normal(0, 0.6, 300)
    assert spearmanr(gold, monotone)[0] > spearmanr(gold, linear)[0]
    assert pearsonr(gold, monotone)[0] < pearsonr(gold, linear)[0]

    by_pearson = compare("STS12", _sts(gold, monotone, "pearson"), _sts(gold, linear, "pearson"))
    assert by_pearson.difference == pytest.approx(pearsonr(gold, monotone)[0] - pearsonr(gold, linear)[0])
    assert by_pearson.high < 0 and "Pearson" in by_pearson.test
    by_spearman = compare("STS12", _sts(gold, monotone), _sts(gold, linear))
    assert by_spearman.low > 0 and "Spearman" in by_spearman.test
    with pytest.raises(NotComparable, match="different correlations"):
        compare("STS12", _sts(gold, monotone, "pearson"), _sts(gold, linear, "spearman"))
