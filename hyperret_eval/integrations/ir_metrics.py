"""Retrieval metrics computed by ir-measures (pytrec_eval underneath), never by hand."""

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


def aggregate(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    relevance_threshold: int = 1,
) -> dict[str, float]:
    """Mean of each reported measure over the queries, keyed ``ir_measures:<measure>``."""
    values = ir_measures.calc_aggregate(report_measures(relevance_threshold), qrels, run)
    return {f"{PREFIX}{measure}": float(value) for measure, value in values.items()}
