"""TREC run and qrels files, as trec_eval, ir-measures, ranx and pyserini read them.

A run line is ``query Q0 document rank score tag``, ranks counted from 1 in the order of
the scores (ties broken by document id, so the same scores always give the same file);
a qrels line is ``query 0 document relevance``, without a header. BEIR's ``save_runfile``
writes 0 for every rank and its qrels TSV has a header, which ``ir_measures.read_trec_qrels``
and ranx's ``Qrels.from_file(kind="trec")`` refuse; hence these writers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from hyperret_eval.core.errors import UserError


def _token(value: str, what: str) -> str:
    """``value`` as one field of a whitespace-separated line."""
    if not value or any(ch.isspace() for ch in value):
        raise UserError(f"{what} {value!r} cannot be written to a TREC file, whose fields are separated by "
                        "whitespace")
    return value


def trec_run_lines(ranking: Mapping[str, Mapping[str, float]], tag: str,
                   top_k: int | None = None) -> Iterator[str]:
    """``ranking`` (query id -> document id -> score) as TREC run lines, each query's
    best ``top_k`` (all by default)."""
    tag = _token(tag, "the run tag")
    for query_id, scores in ranking.items():
        ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top_k]
        for rank, (doc_id, score) in enumerate(ordered, start=1):
            yield f"{_token(query_id, 'query id')} Q0 {_token(doc_id, 'document id')} {rank} {float(score)!r} {tag}\n"


def trec_qrels_lines(qrels: Mapping[str, Mapping[str, int]]) -> Iterator[str]:
    """``qrels`` (query id -> document id -> relevance) as TREC qrels lines."""
    for query_id, judged in qrels.items():
        for doc_id, relevance in judged.items():
            yield f"{_token(query_id, 'query id')} 0 {_token(doc_id, 'document id')} {int(relevance)}\n"
