"""Training triples for retrieval models: each judged query with a positive passage and
hard negatives, mined by BM25 (bm25s) or by a dense encoder (the backbone)."""

from __future__ import annotations

import numpy as np

from hyperret_eval.data.beir import RetrievalData, document_text
from hyperret_eval.data.training_examples import Example

MINERS = ("bm25", "dense")


def _bm25_rankings(data: RetrievalData, query_ids: list[str], depth: int) -> list[list[str]]:
    import bm25s

    doc_ids = list(data.corpus)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([document_text(data.corpus[d]) for d in doc_ids], show_progress=False),
                    show_progress=False)
    tokens = bm25s.tokenize([data.queries[q] for q in query_ids], show_progress=False)
    ranked, _ = retriever.retrieve(tokens, k=min(depth, len(doc_ids)), show_progress=False)
    return [[doc_ids[i] for i in row] for row in np.asarray(ranked)]


def _dense_rankings(data: RetrievalData, query_ids: list[str], depth: int, encoder) -> list[list[str]]:
    import torch

    doc_ids = list(data.corpus)
    docs = encoder.encode([document_text(data.corpus[d]) for d in doc_ids], convert_to_tensor=True,
                          normalize_embeddings=True, show_progress_bar=True)
    queries = encoder.encode([data.queries[q] for q in query_ids], convert_to_tensor=True, normalize_embeddings=True)
    top = torch.topk(queries @ docs.T, k=min(depth, len(doc_ids)), dim=1).indices
    return [[doc_ids[i] for i in row] for row in top.tolist()]


def mine_examples(data: RetrievalData, miner: str = "bm25", negatives: int = 3, depth: int = 30,
                  seed: int = 0, encoder=None) -> list[Example]:
    """One example per (query, relevant passage): ``negatives`` passages drawn from the
    miner's top ``depth`` that are not judged relevant for the query."""
    if miner not in MINERS:
        raise ValueError(f"unknown miner {miner!r}; expected one of {MINERS}")
    query_ids = sorted(data.qrels)
    rankings = (_bm25_rankings(data, query_ids, depth) if miner == "bm25"
                else _dense_rankings(data, query_ids, depth, encoder))
    rng = np.random.default_rng(seed)
    examples = []
    for qid, ranking in zip(query_ids, rankings):
        relevant = {d for d, grade in data.qrels[qid].items() if grade > 0}
        candidates = [d for d in ranking if d not in relevant]
        if len(candidates) < negatives:
            continue
        for positive in sorted(relevant):
            chosen = [candidates[i] for i in sorted(rng.choice(len(candidates), size=negatives, replace=False))]
            examples.append(Example(
                query=data.queries[qid], positive=document_text(data.corpus[positive]),
                negatives=tuple(document_text(data.corpus[d]) for d in chosen),
                query_id=qid, positive_id=positive, negative_ids=tuple(chosen),
            ))
    return examples
