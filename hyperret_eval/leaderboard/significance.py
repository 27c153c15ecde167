"""Is a model's score on a task different from a baseline's beyond noise?

Each comparison pairs the two models on the same items of the same data (the per-query
files ``run`` keeps beside each result, :mod:`hyperret_eval.evaluation.per_query`):

- retrieval: a paired t-test over the judged queries' values of the task's main measure
  (the ir-measures equal of mteb's main score, nDCG@10 for most tasks); its p-value and
  the 95% confidence interval of the mean difference;
- STS: a paired bootstrap over the sentence pairs (the same resampled pairs for both
  models) of the difference of the correlations with the gold scores that the main score
  is (Spearman's or Pearson's); the 95% percentile interval, and a two-sided p-value of
  twice the share of resampled differences on the far side of zero.

The p-values of one model's tasks are Holm-corrected together (a model is compared on
several tasks; each family controls its error rate at 5%). The statistics come from
scipy and statsmodels; this module only pairs the items and names the tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000
SEED = 0  # every publish draws the same resamples: the page does not change when nothing did


@dataclass(frozen=True)
class PairedTest:
    """A model's main score on a task against the baseline's, on paired items."""

    task: str
    difference: float  # model minus baseline, in the main score's units
    low: float  # 95% interval of the difference
    high: float
    p_value: float
    test: str  # which test, over how many paired items
    p_holm: float | None = None  # after Holm's correction across the model's tasks
    significant: bool | None = None  # p_holm < ALPHA

    def to_dict(self) -> dict:
        return asdict(self)


class NotComparable(ValueError):
    """Two per-query files that cannot be paired (other data, other items)."""


def compare(task: str, model: dict, baseline: dict) -> PairedTest:
    """Compare two per-query bodies of one task (``run``'s per-query files, parsed)."""
    if model.get("dataset_revision") != baseline.get("dataset_revision"):
        raise NotComparable(f"{task}: the two results were computed on different data")
    if "members" in model:
        raise NotComparable(f"{task}: an average over several datasets has no single set of items to pair")
    if model.get("task_type") == "Retrieval":
        return _compare_queries(task, model, baseline)
    return _compare_pairs(task, model, baseline)


def _compare_queries(task: str, model: dict, baseline: dict) -> PairedTest:
    from scipy.stats import ttest_rel

    measure = model.get("main_measure")
    if measure is None or measure != baseline.get("main_measure"):
        raise NotComparable(f"{task}: no per-query measure equals the task's main score, so its queries cannot be "
                            "paired on it" if measure is None else f"{task}: the two results keep different main measures")
    shared = sorted(set(model["queries"]) & set(baseline["queries"]))
    if len(shared) != len(model["queries"]) or len(shared) != len(baseline["queries"]) or len(shared) < 2:
        raise NotComparable(f"{task}: the two results judged different queries")
    ours = np.array([model["queries"][query][measure] for query in shared], dtype=float)
    theirs = np.array([baseline["queries"][query][measure] for query in shared], dtype=float)
    difference = ours - theirs
    if not difference.any():  # identical rankings: no variance, nothing to test
        return PairedTest(task, 0.0, 0.0, 0.0, 1.0, f"paired t-test over {len(shared)} queries ({measure})")
    result = ttest_rel(ours, theirs)
    interval = result.confidence_interval(1 - ALPHA)
    return PairedTest(task, float(difference.mean()), float(interval.low), float(interval.high), float(result.pvalue),
                      f"paired t-test over {len(shared)} queries ({measure})")


def _spearman(gold: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """Spearman's correlation along the last axis (many resamples at once)."""
    from scipy.stats import rankdata

    ranked_gold, ranked = rankdata(gold, axis=-1), rankdata(similarity, axis=-1)
    ranked_gold = ranked_gold - ranked_gold.mean(axis=-1, keepdims=True)
    ranked = ranked - ranked.mean(axis=-1, keepdims=True)
    return (ranked_gold * ranked).sum(axis=-1) / np.sqrt((ranked_gold**2).sum(axis=-1) * (ranked**2).sum(axis=-1))


def _pearson(gold: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """Pearson's correlation along the last axis (many resamples at once)."""
    gold = gold - gold.mean(axis=-1, keepdims=True)
    similarity = similarity - similarity.mean(axis=-1, keepdims=True)
    return (gold * similarity).sum(axis=-1) / np.sqrt((gold**2).sum(axis=-1) * (similarity**2).sum(axis=-1))


# The correlation an STS main score is (``cosine_spearman`` -> spearman); a per-query file
# that names none holds a Spearman main score, every catalogue STS task's.
_CORRELATIONS = {"spearman": _spearman, "pearson": _pearson}


def _compare_pairs(task: str, model: dict, baseline: dict) -> PairedTest:
    from scipy.stats import bootstrap

    name = model.get("correlation", "spearman")
    if name != baseline.get("correlation", "spearman"):
        raise NotComparable(f"{task}: the two results' main scores are different correlations")
    if name not in _CORRELATIONS:
        raise NotComparable(f"{task}: no paired test for a main score that is a {name!r} correlation")
    correlation = _CORRELATIONS[name]

    gold = np.asarray(model["pairs"]["gold"], dtype=float)
    if not np.array_equal(gold, np.asarray(baseline["pairs"]["gold"], dtype=float)) or len(gold) < 3:
        raise NotComparable(f"{task}: the two results scored different sentence pairs")
    ours = np.asarray(model["pairs"]["similarity"], dtype=float)
    theirs = np.asarray(baseline["pairs"]["similarity"], dtype=float)
    test = f"paired bootstrap over {len(gold)} pairs ({BOOTSTRAP_RESAMPLES} resamples, {name.title()})"
    if np.array_equal(ours, theirs):  # the same similarities: every resample differs by nothing
        return PairedTest(task, 0.0, 0.0, 0.0, 1.0, test)

    def statistic(gold, ours, theirs, axis=-1):
        return correlation(gold, ours) - correlation(gold, theirs)

    observed = float(statistic(gold, ours, theirs))
    result = bootstrap((gold, ours, theirs), statistic, paired=True, vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES,
                       confidence_level=1 - ALPHA, method="percentile", rng=np.random.default_rng(SEED))
    resampled = result.bootstrap_distribution
    # Two-sided, counting the observed sample among the resamples: a bootstrap of B
    # resamples can say p < 2 / (B + 1), never p = 0.
    beyond_zero = min(int((resampled <= 0).sum()), int((resampled >= 0).sum()))
    p_value = min(1.0, 2 * (beyond_zero + 1) / (len(resampled) + 1))
    interval = result.confidence_interval
    return PairedTest(task, observed, float(interval.low), float(interval.high), p_value, test)


def holm(comparisons: list[PairedTest]) -> list[PairedTest]:
    """The comparisons of one model, with Holm-corrected p-values and verdicts."""
    from dataclasses import replace

    from statsmodels.stats.multitest import multipletests

    if not comparisons:
        return []
    rejected, corrected, _, _ = multipletests([c.p_value for c in comparisons], alpha=ALPHA, method="holm")
    return [replace(c, p_holm=float(p), significant=bool(r)) for c, p, r in zip(comparisons, corrected, rejected)]
