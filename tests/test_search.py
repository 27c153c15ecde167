"""Exhaustive q-net search equals scoring one query at a time."""

from __future__ import annotations

import pytest
import torch

from hyperret_eval.models.hypencoder import QNets, QNetShape
from hyperret_eval.search import ExhaustiveSearch


def random_qnets(num_queries: int, dims: tuple[int, ...], seed: int = 0) -> QNets:
    generator = torch.Generator().manual_seed(seed)
    shape = QNetShape(vector_dimensions=dims)
    weights = [torch.randn(num_queries, i, o, generator=generator) / i**0.5 for i, o in zip(dims[:-1], dims[1:])]
    biases = [torch.randn(num_queries, h, generator=generator) * 0.1 for h in dims[1:-1]]
    return QNets(weights, biases, shape)


def reference_top_k(qnets: QNets, passages: torch.Tensor, k: int):
    """One query at a time, all passages at once, then sort."""
    scores, ids = [], []
    for q in range(len(qnets)):
        one = qnets.select(slice(q, q + 1)).apply(passages.unsqueeze(0))[0]
        top = one.topk(k)
        scores.append(top.values)
        ids.append(top.indices)
    return torch.stack(scores), torch.stack(ids)


@pytest.mark.parametrize("chunk_size, query_batch", [(37, 2), (1000, 16), (1, 5)])
def test_exhaustive_equals_one_query_at_a_time(chunk_size, query_batch):
    passages = torch.randn(1000, 32, generator=torch.Generator().manual_seed(1))
    qnets = random_qnets(5, (32, 32, 32, 1))
    expected_scores, expected_ids = reference_top_k(qnets, passages, k=10)
    scores, ids = ExhaustiveSearch(passages, chunk_size=chunk_size, query_batch=query_batch).search(qnets, 10)
    assert torch.equal(ids, expected_ids)
    torch.testing.assert_close(scores, expected_scores, atol=1e-4, rtol=0)
    assert (scores[:, :-1] >= scores[:, 1:]).all(), "best first"


def test_low_precision_keeps_most_of_the_top_k():
    passages = torch.randn(2000, 32, generator=torch.Generator().manual_seed(2))
    qnets = random_qnets(4, (32, 64, 1))
    _, exact = ExhaustiveSearch(passages).search(qnets, 20)
    _, approx = ExhaustiveSearch(passages, dtype="bfloat16", chunk_size=300).search(qnets, 20)
    overlap = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact, approx)) / exact.numel()
    assert overlap > 0.8


def test_k_larger_than_corpus():
    passages = torch.randn(7, 8)
    scores, ids = ExhaustiveSearch(passages, chunk_size=3).search(random_qnets(2, (8, 8, 1)), 50)
    assert ids.shape == (2, 7) and sorted(ids[0].tolist()) == list(range(7))
