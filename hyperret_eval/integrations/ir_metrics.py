"""Retrieval metrics computed by ir-measures (pytrec_eval underneath), never by hand.

Metrics are values, as ir-measures has them: a task's measures depend on its relevance
threshold (TREC-DL counts judgements of 2 and above, so its reciprocal rank is
``RR(rel=2)@10``), and a result file keys each one ``ir_measures:<measure>`` as
ir-measures writes the measure. Whoever reads the scores asks :func:`result_keys` for the
keys of a task instead of spelling them out.
"""

from __future__ import annotations

import ir_measures

PREFIX = "ir_measures:"


def report_measures(relevance_threshold: int = 1) -> list:
    """nDCG@10, MRR@10, Recall@100 and MAP, the binary ones at the task's relevance level."""
    rel = relevance_threshold
    return [
        ir_measures.parse_measure("nDCG@10"),
        ir_measures.parse_measure(f"RR(rel={rel})@10"),
        ir_measures.parse_measure(f"R(rel={rel})@100"),
        ir_measures.parse_measure(f"AP(rel={rel})"),
    ]


def result_key(measure) -> str:
    """The key a result file holds ``measure``'s value under."""
    return f"{PREFIX}{measure}"


def result_keys(relevance_threshold: int = 1) -> list[str]:
    """The keys of the measures a task with this relevance threshold reports."""
    return [result_key(measure) for measure in report_measures(relevance_threshold)]


def aggregate(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    relevance_threshold: int = 1,
) -> dict[str, float]:
    """Mean of each reported measure over the queries, keyed as :func:`result_key` says."""
    values = ir_measures.calc_aggregate(report_measures(relevance_threshold), qrels, run)
    return {result_key(measure): float(value) for measure, value in values.items()}
