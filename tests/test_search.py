"""Exhaustive q-net search equals scoring one query at a time; graph search finds most
of the exhaustive top-k while scoring a fraction of the corpus."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyperret_eval.core.errors import UserError
from hyperret_eval.models.hypencoder import QNets, QNetShape
from hyperret_eval.search import ExhaustiveSearch, GraphSearch, NeighbourGraph
from hyperret_eval.search.exhaustive import TopK


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


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("chunk_size, query_batch", [(37, 2), (1000, 16), (1, 5)])
def test_exhaustive_equals_one_query_at_a_time(chunk_size, query_batch, workers):
    passages = torch.randn(1000, 32, generator=torch.Generator().manual_seed(1))
    qnets = random_qnets(5, (32, 32, 32, 1))
    expected_scores, expected_ids = reference_top_k(qnets, passages, k=10)
    engine = ExhaustiveSearch(passages, chunk_size=chunk_size, query_batch=query_batch, workers=workers)
    scores, ids = engine.search(qnets, 10)
    assert torch.equal(ids, expected_ids)
    torch.testing.assert_close(scores, expected_scores, atol=1e-4, rtol=0)
    assert (scores[:, :-1] >= scores[:, 1:]).all(), "best first"


def test_ties_go_to_the_lower_passage_id_whichever_worker_scored_them():
    """Identical passages score identically; the answer must not depend on thread timing."""
    distinct = torch.randn(40, 16, generator=torch.Generator().manual_seed(4))
    # Passage i, i + 40 and i + 80 tie: same vector, same place in its chunk of 8 (a row's
    # place in a matrix product can change its last bits), and 30 is a whole number of ties.
    passages = torch.cat([distinct, distinct, distinct])
    qnets = random_qnets(3, (16, 16, 1))
    for workers in (1, 2, 4):
        _, ids = ExhaustiveSearch(passages, chunk_size=8, workers=workers).search(qnets, 30)
        for row in ids.tolist():
            for rank in range(0, 30, 3):
                assert row[rank : rank + 3] == [row[rank], row[rank] + 40, row[rank] + 80]


def test_a_tie_at_the_kth_place_keeps_the_lower_passage_id():
    """k = 29 cuts the last group of three tied passages: its two lower ids stay, in every
    worker's own running top-k as in the merge of the workers' lists."""
    distinct = torch.randn(40, 16, generator=torch.Generator().manual_seed(4))
    passages = torch.cat([distinct, distinct, distinct])
    qnets = random_qnets(3, (16, 16, 1))
    for workers in (1, 2):
        _, ids = ExhaustiveSearch(passages, chunk_size=8, workers=workers).search(qnets, 29)
        for row in ids.tolist():
            assert row[27:] == [row[27], row[27] + 40]


def test_running_top_k_prefers_the_lower_id_whichever_arrives_first():
    generator = torch.Generator().manual_seed(5)
    for _ in range(20):
        arrival = torch.randperm(12, generator=generator)  # twelve tied candidates, in chunks of 3
        best = TopK(1, 4, torch.device("cpu"))
        entered = [int(best.merge(torch.zeros(1, 3), chunk)) for chunk in arrival.split(3)]
        assert best.ids.tolist() == [[0, 1, 2, 3]]
        assert entered[0] == 3 and sum(entered) >= 4


def test_cpu_workers_leave_torch_thread_count_as_it_was():
    before = torch.get_num_threads()
    ExhaustiveSearch(torch.randn(100, 8), chunk_size=10, workers=2).search(random_qnets(2, (8, 8, 1)), 5)
    assert torch.get_num_threads() == before


@pytest.mark.slow
def test_low_precision_keeps_most_of_the_top_k():
    passages = torch.randn(2000, 32, generator=torch.Generator().manual_seed(2))
    qnets = random_qnets(4, (32, 64, 1))
    _, exact = ExhaustiveSearch(passages).search(qnets, 20)
    _, approx = ExhaustiveSearch(passages, dtype="bfloat16", chunk_size=300).search(qnets, 20)
    overlap = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact, approx)) / exact.numel()
    assert overlap > 0.8


def test_memory_mapped_float16_passages_are_scored_in_place(tmp_path):
    values = torch.randn(500, 16, generator=torch.Generator().manual_seed(3)).half()
    stored = np.lib.format.open_memmap(tmp_path / "passages.npy", mode="w+", dtype=np.float16, shape=(500, 16))
    stored[:] = values.numpy()
    stored.flush()
    mapped = torch.from_numpy(np.load(tmp_path / "passages.npy", mmap_mode="r+"))
    qnets = random_qnets(3, (16, 16, 16, 1))
    engine = ExhaustiveSearch(mapped, chunk_size=64)
    assert engine.passages.data_ptr() == mapped.data_ptr(), "the memmap is not copied"
    scores, ids = engine.search(qnets, 10)
    expected_scores, expected_ids = reference_top_k(qnets, values.float(), k=10)
    assert torch.equal(ids, expected_ids)
    torch.testing.assert_close(scores, expected_scores, atol=1e-4, rtol=0)


def test_k_larger_than_corpus():
    passages = torch.randn(7, 8)
    scores, ids = ExhaustiveSearch(passages, chunk_size=3).search(random_qnets(2, (8, 8, 1)), 50)
    assert ids.shape == (2, 7) and sorted(ids[0].tolist()) == list(range(7))


def clustered_passages(count: int = 3000, dim: int = 32) -> torch.Tensor:
    """Vectors on a curved 6-dimensional manifold, as embeddings are: neighbours mean something."""
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(count, 6, generator=generator)
    return torch.tanh(latent @ torch.randn(6, dim, generator=generator)) + 0.05 * torch.randn(count, dim, generator=generator)


def recall(found: torch.Tensor, exact: torch.Tensor) -> float:
    return sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, exact)) / exact.numel()


@pytest.mark.slow
def test_graph_search_recalls_the_exhaustive_top_k_scoring_a_fraction():
    passages = clustered_passages()
    qnets = random_qnets(8, (32, 32, 32, 1), seed=1)
    exact_scores, exact = ExhaustiveSearch(passages).search(qnets, 10)
    # Random q-nets over Gaussian clusters: the closest passages are the better neighbours
    # here (an inner-product graph reached 0.84); trained Hypencoders favour inner product.
    graph = NeighbourGraph.build(passages, degree=16, metric="l2")
    engine = GraphSearch(passages, graph, entry_points=64, ncandidates=16)
    scores, ids = engine.search(qnets, 10)
    assert recall(ids, exact) >= 0.9
    assert engine.last_scored.float().mean() < 0.3 * len(passages)
    assert all(len(set(row.tolist())) == 10 for row in ids), "a passage is never returned twice"
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    assert (scores <= exact_scores[:, :1] + 1e-5).all(), "never above the true best score"


@pytest.mark.slow
def test_graph_search_scores_the_same_per_query_and_batched():
    """The CPU's per-query products and the GPU's padded batched product walk the graph
    identically: same passages reached, same top-k."""
    passages = clustered_passages()
    qnets = random_qnets(5, (32, 32, 32, 1), seed=4)
    graph = NeighbourGraph.build(passages, degree=16)
    runs = []
    for batched in (False, True):
        engine = GraphSearch(passages, graph, entry_points=32, ncandidates=8, query_batch=3, batched_scoring=batched)
        runs.append((*engine.search(qnets, 10), engine.last_scored))
    (scores, ids, scored), (batched_scores, batched_ids, batched_scored) = runs
    assert torch.equal(ids, batched_ids) and torch.equal(scored, batched_scored)
    torch.testing.assert_close(scores, batched_scores, atol=1e-5, rtol=0)
    assert (scored > 32).all(), "the search went past its entry points"


def test_graph_search_from_every_passage_is_exhaustive():
    passages = clustered_passages(500)
    qnets = random_qnets(3, (32, 32, 1))
    exact_scores, exact = ExhaustiveSearch(passages).search(qnets, 10)
    scores, ids = GraphSearch(passages, NeighbourGraph.build(passages, degree=8), entry_points=500).search(qnets, 10)
    assert torch.equal(ids, exact)
    torch.testing.assert_close(scores, exact_scores, atol=1e-5, rtol=0)


def test_graph_search_with_explicit_entry_points_and_a_tiny_corpus():
    passages = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    graph = NeighbourGraph.build(passages, degree=32)  # more neighbours asked than passages exist
    assert graph.neighbours.shape == (5, 32) and (graph.neighbours[:, 4:] == -1).all()
    scores, ids = GraphSearch(passages, graph, entry_points=torch.tensor([2]), max_iter=0).search(
        random_qnets(2, (8, 8, 1)), 3)
    assert ids[:, 0].tolist() == [2, 2] and (ids[:, 1:] == -1).all() and torch.isinf(scores[:, 1:]).all()
    with pytest.raises(UserError, match="entry point"):
        GraphSearch(passages, graph, entry_points=torch.tensor([7]))


def test_graph_saved_reused_and_refused_for_other_passages(tmp_path):
    passages = clustered_passages(400)
    graph = NeighbourGraph.build(passages, degree=8, metric="ip")
    path = tmp_path / "graph.safetensors"
    graph.save(path)
    loaded = NeighbourGraph.load(path, passages)
    assert torch.equal(loaded.neighbours, graph.neighbours) and loaded.metric == "ip"
    with pytest.raises(UserError, match="other passage vectors"):
        NeighbourGraph.load(path, passages + 1e-3)
    path.write_bytes(b"not a graph")
    with pytest.raises(UserError, match="not a readable neighbour graph"):
        NeighbourGraph.load(path)


def test_search_settings_build_one_graph_per_metric_and_refuse_unknown_ones(tmp_path):
    from hyperret_eval.search.settings import SearchSettings

    passages = clustered_passages(300)
    graphs = {metric: SearchSettings(method="graph", metric=metric, degree=8, graph_dir=tmp_path).graph(passages, False)
              for metric in ("ip", "l2")}
    assert {g.metric for g in graphs.values()} == {"ip", "l2"} and len(list(tmp_path.iterdir())) == 2
    assert not torch.equal(graphs["ip"].neighbours, graphs["l2"].neighbours)
    with pytest.raises(UserError, match="graph metric must be one of l2, ip, got 'cosine'"):
        SearchSettings(method="graph", metric="cosine")
