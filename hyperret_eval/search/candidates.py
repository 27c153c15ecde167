"""Reranking given candidate lists: each query scored against its own candidates only.

A retrieval task may come with candidates for each query (mteb's ``top_ranked``: a first
stage's output, a reranking benchmark's pool). A model then ranks those passages and no
others, whatever it would have found in the rest of the corpus. Every search model of
ours (dense, q-net) hands this module a scoring function of one query against some
passage positions; the order of the answer is the engines' (ties to the lower passage
position, :func:`hyperret_eval.search.exhaustive.best_k`).

As in mteb's own reranking, a query with no candidate list gets an empty ranking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import torch

from hyperret_eval.core.errors import UserError
from hyperret_eval.search.exhaustive import best_k

logger = logging.getLogger(__name__)

# One query (by its position in the query list) against passages (by corpus position): [n] scores.
ScoreCandidates = Callable[[int, torch.Tensor], torch.Tensor]


def candidate_positions(query_ids: Sequence[str], doc_ids: Sequence[str],
                        top_ranked: Mapping[str, Sequence[str]]) -> list[torch.Tensor | None]:
    """Each query's candidates as corpus positions, in the order given, repeats dropped;
    None for a query without a candidate list. A candidate the corpus lacks is an error
    naming it: scoring around it would rank a pool other than the one the task gave."""
    position = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    lists: list[torch.Tensor | None] = []
    for query_id in query_ids:
        given = top_ranked.get(query_id)
        if given is None:
            lists.append(None)
            continue
        missing = [doc_id for doc_id in given if str(doc_id) not in position]
        if missing:
            raise UserError(f"the candidates of query {query_id!r} name {len(missing)} document(s) the corpus "
                            f"does not hold, first {str(missing[0])!r}")
        unique = dict.fromkeys(position[str(doc_id)] for doc_id in given)
        lists.append(torch.tensor(list(unique), dtype=torch.long))
    return lists


def rerank(score: ScoreCandidates, query_ids: Sequence[str], doc_ids: Sequence[str],
           top_ranked: Mapping[str, Sequence[str]], k: int) -> dict[str, dict[str, float]]:
    """``{query_id: {doc_id: score}}``: each query's best ``k`` of its own candidates."""
    run: dict[str, dict[str, float]] = {}
    without = 0
    for row, (query_id, positions) in enumerate(zip(query_ids, candidate_positions(query_ids, doc_ids, top_ranked))):
        if positions is None or len(positions) == 0:
            without += positions is None
            run[str(query_id)] = {}
            continue
        scores = torch.as_tensor(score(row, positions)).float().reshape(1, -1)
        if scores.shape[1] != len(positions):
            raise RuntimeError(f"scored {scores.shape[1]} candidates of query {query_id!r}, expected {len(positions)}")
        best_scores, best_ids = best_k(scores, positions.reshape(1, -1), min(k, len(positions)))
        run[str(query_id)] = {doc_ids[i]: float(s) for s, i in zip(best_scores[0].tolist(), best_ids[0].tolist())}
    if without:
        logger.warning("%d of %d queries have no candidate list; they get an empty ranking", without, len(query_ids))
    return run
