import pytest

from hyperret_eval.integrations.ir_metrics import evaluate_run


def aggregate(qrels, run, relevance_threshold=1):
    return evaluate_run(qrels, run, relevance_threshold).means

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


def test_per_query_values_average_to_the_means_and_cover_every_judged_query():
    qrels = {**QRELS, "q3": {"d7": 1}}  # q3 is judged but the run does not answer it
    scores = evaluate_run(qrels, RUN, relevance_threshold=2)
    assert list(scores.per_query) == ["q1", "q2", "q3"]
    assert list(scores.per_query["q1"]) == ["nDCG@10", "RR(rel=2)@10", "R(rel=2)@100", "AP(rel=2)",
                                         "R(rel=2)@1000"]
    assert scores.per_query["q1"]["RR(rel=2)@10"] == pytest.approx(0.5)
    assert scores.per_query["q3"] == {"nDCG@10": 0.0, "RR(rel=2)@10": 0.0, "R(rel=2)@100": 0.0, "AP(rel=2)": 0.0,
                                       "R(rel=2)@1000": 0.0}
    for measure, mean in scores.means.items():
        name = measure.removeprefix("ir_measures:")
        assert mean == pytest.approx(sum(q[name] for q in scores.per_query.values()) / 3)
