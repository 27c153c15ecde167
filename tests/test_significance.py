"""Paired comparisons against a baseline: the tests the leaderboard reports, on data whose
answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from hyperret_eval.leaderboard.significance import PairedTest, NotComparable, _spearman, compare, holm


def _retrieval(values: dict[str, float], revision: str = "abc") -> dict:
    return {"task_type": "Retrieval", "dataset_revision": revision, "main_measure": "nDCG@10",
            "queries": {query: {"nDCG@10": value} for query, value in values.items()}}


def _sts(gold, similarity, revision: str = "abc") -> dict:
    return {"task_type": "STS", "dataset_revision": revision,
            "pairs": {"gold": list(map(float, gold)), "similarity": list(map(float, similarity))}}


def test_a_clearly_better_ranking_is_significant_and_its_interval_holds_the_difference():
    generator = np.random.default_rng(1)
    base = generator.uniform(0.2, 0.8, 200)
    better = np.clip(base + 0.1 + generator.normal(0, 0.05, 200), 0, 1)
    queries = [f"q{i}" for i in range(200)]
    result = compare("SciFact", _retrieval(dict(zip(queries, better))), _retrieval(dict(zip(queries, base))))
    assert result.difference == pytest.approx(float((better - base).mean()))
    assert result.low < result.difference < result.high and result.low > 0
    assert result.p_value < 1e-6 and "200 queries" in result.test


def test_noise_alone_is_not_significant():
    generator = np.random.default_rng(2)
    queries = [f"q{i}" for i in range(100)]
    first, second = generator.uniform(0, 1, 100), generator.uniform(0, 1, 100)
    result = compare("SciFact", _retrieval(dict(zip(queries, first))), _retrieval(dict(zip(queries, second))))
    assert result.p_value > 0.05 and result.low < 0 < result.high


def test_identical_results_differ_by_nothing():
    body = _retrieval({"q1": 0.5, "q2": 0.7})
    assert compare("SciFact", body, body) == PairedTest("SciFact", 0.0, 0.0, 0.0, 1.0,
                                                        "paired t-test over 2 queries (nDCG@10)")
    sts = _sts([1, 2, 3, 4], [0.1, 0.3, 0.2, 0.9])
    same = compare("STS12", sts, sts)
    assert same.difference == same.low == same.high == 0.0 and same.p_value == 1.0


@pytest.mark.parametrize("model, baseline, problem", [
    (_retrieval({"q1": 0.5, "q2": 0.7}), _retrieval({"q1": 0.5, "q3": 0.7}), "different queries"),
    (_retrieval({"q1": 0.5, "q2": 0.7}), _retrieval({"q1": 0.5, "q2": 0.7}, revision="other"), "different data"),
    (_sts([1, 2, 3, 4], [1, 2, 3, 4]), _sts([1, 2, 3, 5], [1, 2, 3, 4]), "different sentence pairs"),
])
def test_results_that_cannot_be_paired_are_refused(model, baseline, problem):
    with pytest.raises(NotComparable, match=problem):
        compare("T", model, baseline)


def test_sts_bootstrap_finds_the_closer_similarity():
    generator = np.random.default_rng(3)
    gold = generator.uniform(0, 5, 500)
    close, far = gold + generator.normal(0, 0.5, 500), gold + generator.normal(0, 3, 500)
    result = compare("STS12", _sts(gold, close), _sts(gold, far))
    expected = spearmanr(close, gold).statistic - spearmanr(far, gold).statistic
    assert result.difference == pytest.approx(expected)
    assert 0 < result.low < result.difference < result.high and result.p_value < 0.01
    assert result.p_value == 2 / 2001  # no resample at or below zero: the smallest p 2,000 resamples can give
    assert compare("STS12", _sts(gold, close), _sts(gold, far)) == result  # seeded: the same every publish


def test_vectorised_spearman_is_scipys_with_ties():
    generator = np.random.default_rng(4)
    gold = generator.integers(0, 5, (3, 40)).astype(float)  # many ties, as gold scores have
    similarity = generator.normal(size=(3, 40))
    expected = [spearmanr(s, g).statistic for g, s in zip(gold, similarity)]
    np.testing.assert_allclose(_spearman(gold, similarity), expected, rtol=1e-12)


def test_holm_corrects_one_models_tasks_together():
    raw = [PairedTest(t, 0.01, 0.0, 0.02, p, "test") for t, p in (("A", 0.01), ("B", 0.04), ("C", 0.03))]
    corrected = holm(raw)
    assert [c.p_holm for c in corrected] == pytest.approx([0.03, 0.06, 0.06])
    assert [c.significant for c in corrected] == [True, False, False]
