"""Retrieval metrics computed by ir-measures (pytrec_eval underneath), never by hand.

Metrics are values, as ir-measures has them: a task's measures depend on its relevance
threshold (TREC-DL counts judgements of 2 and above, so its reciprocal rank is
``RR(rel=2)@10``), and a result file keys each one ``ir_measures:<measure>`` as
ir-measures writes the measure. Whoever reads the scores asks :func:`result_keys` for the
keys of a task instead of spelling them out. Each query's values are kept too (the
per-query file beside a result), for tests of significance over queries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import ir_measures

PREFIX = "ir_measures:"


def report_measures(relevance_threshold: int = 1) -> list:
    """nDCG@10, MRR@10, Recall@100, MAP and Recall@1000 (the recall MS MARCO and TREC-DL
    report), the binary ones at the task's relevance level."""
    rel = relevance_threshold
    return [
        ir_measures.parse_measure("nDCG@10"),
        ir_measures.parse_measure(f"RR(rel={rel})@10"),
        ir_measures.parse_measure(f"R(rel={rel})@100"),
        ir_measures.parse_measure(f"AP(rel={rel})"),
        ir_measures.parse_measure(f"R(rel={rel})@1000"),
    ]


# mteb's retrieval scores ("<name>_at_<k>", computed by pytrec_eval with its default
# relevance level of 1) and the ir-measures measure of the same value (tests check they agree).
_MTEB_EQUIVALENTS = {"ndcg": "nDCG@{k}", "map": "AP@{k}", "recall": "R@{k}", "precision": "P@{k}", "mrr": "RR@{k}"}


def measure_of(main_score: str) -> str | None:
    """The ir-measures measure whose value equals mteb's ``main_score``, if one does."""
    match = re.fullmatch(r"([a-z]+)_at_(\d+)", main_score)
    if not match or match.group(1) not in _MTEB_EQUIVALENTS:
        return None
    return _MTEB_EQUIVALENTS[match.group(1)].format(k=match.group(2))


def result_key(measure) -> str:
    """The key a result file holds ``measure``'s value under."""
    return f"{PREFIX}{measure}"


def result_keys(relevance_threshold: int = 1) -> list[str]:
    """The keys of the measures a task with this relevance threshold reports."""
    return [result_key(measure) for measure in report_measures(relevance_threshold)]


@dataclass(frozen=True)
class RunScores:
    """A run's scores: each measure's mean over the queries, keyed as :func:`result_key`
    says (what a result file holds), and each query's value of each measure, keyed by
    query id, then by the measure as ir-measures writes it (``nDCG@10``, ``RR(rel=2)@10``)."""

    means: dict[str, float]
    per_query: dict[str, dict[str, float]]


def evaluate_run(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    relevance_threshold: int = 1,
    also: Sequence[str] = (),
) -> RunScores:
    """Every reported measure of ``run``, and the measures named in ``also`` (a task's
    main score, for its paired test), per query and averaged, in one ir-measures call.

    Every judged query has a value (a query the run does not answer scores 0), in the
    order of ``qrels``; the mean is over those same queries.
    """
    measures = report_measures(relevance_threshold)
    measures += [measure for measure in map(ir_measures.parse_measure, also) if measure not in measures]
    calculated = ir_measures.calc(measures, qrels, run)
    values: dict[str, dict] = {}
    for metric in calculated.per_query:
        values.setdefault(metric.query_id, {})[metric.measure] = float(metric.value)
    per_query = {qid: {str(m): values[qid][m] for m in measures} for qid in qrels if qid in values}
    means = {result_key(measure): float(value) for measure, value in calculated.aggregated.items()}
    return RunScores(means, per_query)
