import pytest

from hyperret_eval.integrations.ir_metrics import aggregate

QRELS = {"q1": {"d1": 1, "d2": 2}, "q2": {"d3": 3}}
RUN = {"q1": {"d1": 0.9, "d2": 0.8, "d9": 0.1}, "q2": {"d8": 0.9, "d3": 0.5}}


def test_reciprocal_rank_respects_the_relevance_threshold():
    lenient = aggregate(QRELS, RUN, relevance_threshold=1)
    strict = aggregate(QRELS, RUN, relevance_threshold=2)
    # q1: first relevant at rank 1 (rel>=1) or rank 2 (rel>=2); q2: rank 2 either way.
    assert lenient["ir_measures:RR@10"] == pytest.approx((1 + 0.5) / 2)
    assert strict["ir_measures:RR(rel=2)@10"] == pytest.approx((0.5 + 0.5) / 2)


def test_perfect_run_scores_one():
    perfect = {"q1": {"d2": 2.0, "d1": 1.0}, "q2": {"d3": 1.0}}
    scores = aggregate(QRELS, perfect)
    assert scores["ir_measures:nDCG@10"] == pytest.approx(1.0)
    assert scores["ir_measures:R@100"] == pytest.approx(1.0)
    assert scores["ir_measures:AP"] == pytest.approx(1.0)
    assert aggregate(QRELS, RUN)["ir_measures:nDCG@10"] < 1.0
