"""Corpora larger than memory: the passage store on disk (refused for another model or
dtype, resumed after a kill), exhaustive search streamed from it in chunks and sharded
over ranks with the same answer as in memory, and the efficient search with the paper's
settings on a memory-mapped store and an out-of-core neighbour graph."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.world import World
from hyperret_eval.search import ExhaustiveSearch, GraphSearch, NeighbourGraph
from hyperret_eval.search.exhaustive import best_k
from hyperret_eval.search.passage_cache import passage_store
from hyperret_eval.search.sharded import sharded_exhaustive_search, shard_top_k
from tests.conftest import REPO, child_env, free_port
from tests.test_passage_cache import mapped_files
from tests.test_search import random_qnets

KEY = {"format": "hyperret-passage-cache/1", "passage_encoder": "encoder-a", "corpus": "corpus-1", "dtype": "float16"}


def tied_passages() -> torch.Tensor:
    """120 float16 passages in which i, i + 40 and i + 80 are the same vector."""
    distinct = torch.randn(40, 16, generator=torch.Generator().manual_seed(4))
    return torch.cat([distinct, distinct, distinct]).half()


def write(folder: Path, values: torch.Tensor, key: dict = KEY, **options) -> torch.Tensor:
    options = {"step": 8, "chunk_size": 24, "show_progress": False, **options}
    return passage_store(folder, key, len(values), lambda start, stop: values[start:stop], **options)


def test_streamed_chunked_and_sharded_search_equals_the_in_memory_one(tmp_path):
    values = tied_passages()
    store = write(tmp_path / "store", values)
    assert store.dtype == torch.float16
    assert mapped_files(store) == [str((tmp_path / "store" / "vectors.npy").resolve())], "a memmap, not a copy"
    qnets = random_qnets(3, (16, 16, 16, 1))
    expected_scores, expected_ids = ExhaustiveSearch(values.float(), chunk_size=8).search(qnets, 29)
    for row in expected_ids.tolist():  # ties are kept in id order, the 29th cuts a group of three
        assert all(row[rank : rank + 3] == [row[rank], row[rank] + 40, row[rank] + 80] for rank in range(0, 27, 3))
    for size in (1, 2, 3, 4):
        parts = [shard_top_k(World(rank=rank, size=size), store, qnets, 29, chunk_size=8, workers=2)
                 for rank in range(size)]
        scores, ids = best_k(torch.cat([s for s, _ in parts], dim=1), torch.cat([i for _, i in parts], dim=1), 29)
        assert torch.equal(ids, expected_ids), f"{size} ranks"
        assert torch.equal(scores, expected_scores), f"{size} ranks"
    scores, ids = sharded_exhaustive_search(World(), store, qnets, 500, chunk_size=8)
    assert ids.shape == (3, 120) and torch.equal(ids[:, :29], expected_ids)


def test_a_shard_smaller_than_k_is_padded():
    passages = torch.randn(10, 8)
    scores, ids = shard_top_k(World(rank=1, size=2), passages, random_qnets(2, (8, 8, 1)), 7, chunk_size=2)
    assert (ids[:, :6] >= 4).all() and (ids[:, 6:] == -1).all() and torch.isinf(scores[:, 6:]).all()  # rows 4-9


@pytest.mark.parametrize("field, value", [("passage_encoder", "encoder-b"), ("dtype", "float32")])
def test_the_store_refuses_vectors_of_another_model_or_dtype(tmp_path, field, value):
    values = tied_passages()
    write(tmp_path / "store", values)
    with pytest.raises(UserError, match=f"another {field}.*{value}"):
        write(tmp_path / "store", values.float(), key={**KEY, field: value})
    assert torch.equal(write(tmp_path / "store", values), values), "the store is left as it was"


KILLED_WRITER = """
import os, signal, sys, torch
from hyperret_eval.search.passage_cache import passage_store
values = torch.load(sys.argv[2])
def encode(start, stop):
    if start >= 48:
        os.kill(os.getpid(), signal.SIGKILL)
    return values[start:stop]
passage_store(sys.argv[1], {key!r}, len(values), encode, step=8, chunk_size=16, show_progress=False)
"""


@pytest.mark.slow
def test_a_killed_store_write_resumes_where_it_stopped(tmp_path):
    values = torch.randn(80, 16, generator=torch.Generator().manual_seed(7)).half()
    torch.save(values, tmp_path / "values.pt")
    folder = tmp_path / "store"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER.format(key=KEY), str(folder), str(tmp_path / "values.pt")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    meta = json.loads((folder / "meta.json").read_text())
    assert (meta["chunks_done"], meta["complete"]) == (3, False)

    asked = []
    resumed = passage_store(folder, KEY, 80, lambda start, stop: asked.append(start) or values[start:stop],
                            step=8, chunk_size=16, show_progress=False)
    assert asked == [48, 56, 64, 72], "only the chunks not written are encoded"
    assert torch.equal(resumed, values)


def test_writing_a_store_says_what_it_will_cost(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="hyperret_eval"):
        write(tmp_path / "store", tied_passages())
        ExhaustiveSearch(tied_passages(), chunk_size=8, show_progress=True).search(random_qnets(2, (16, 16, 1)), 5)
    assert "encoding 120 passages" in caplog.text and "passages/s measured" in caplog.text
    assert "exhaustive search of 2 queries over 120 passages: 240 scores" in caplog.text


def clustered_store(folder: Path, count: int = 12_000, dim: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Clusters around a smooth 4-dimensional manifold, a little noise: near passages
    score alike under a q-net, which is what a graph search needs."""
    generator = torch.Generator().manual_seed(0)
    centres = 2 * torch.randn(24, dim, generator=generator)
    manifold = torch.tanh(torch.randn(count, 4, generator=generator) @ torch.randn(4, dim, generator=generator) / 2)
    values = (centres[torch.randint(24, (count,), generator=generator)] + 2 * manifold
              + 0.05 * torch.randn(count, dim, generator=generator)).half()
    key = {**KEY, "corpus": f"clustered-{count}"}
    return write(folder, values, key=key, step=1000, chunk_size=4000), values


@pytest.mark.slow
def test_the_papers_efficient_search_runs_on_a_memory_mapped_store(tmp_path):
    store, values = clustered_store(tmp_path / "store")
    graph = NeighbourGraph.build_out_of_core(store, tmp_path / "graph", degree=100, metric="l2")
    assert graph.neighbours.shape == (12_000, 100) and graph.neighbours.dtype == torch.int32
    assert mapped_files(graph.neighbours) == [str((tmp_path / "graph" / "neighbours.npy").resolve())]
    assert ((graph.neighbours >= 0) & (graph.neighbours != torch.arange(12_000).unsqueeze(1))).all()
    reopened = NeighbourGraph.open(tmp_path / "graph", store)
    assert torch.equal(reopened.neighbours, graph.neighbours)
    with pytest.raises(UserError, match="other passage vectors"):
        NeighbourGraph.open(tmp_path / "graph", store[:-1])

    qnets = random_qnets(4, (32, 32, 32, 1))
    _, exact = ExhaustiveSearch(values.float()).search(qnets, 10)
    for entry, ncandidates, max_iter in ((10_000, 64, 16), (10_000, 328, 20)):
        engine = GraphSearch(store, graph, entry_points=entry, ncandidates=ncandidates, max_iter=max_iter)
        assert engine.passages.data_ptr() == store.data_ptr(), "the store is searched in place, not copied"
        scores, ids = engine.search(qnets, 10)
        truth = torch.stack([qnets.select(slice(q, q + 1)).apply(values.float()[ids[q]].unsqueeze(0))[0]
                             for q in range(4)])
        torch.testing.assert_close(scores, truth, atol=1e-4, rtol=0)
        overlap = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ids, exact)) / exact.numel()
        assert overlap >= 0.95, (entry, ncandidates, max_iter, overlap)
        assert (engine.last_scored < 12_000).all(), "a graph search does not score everything"


def test_an_unreadable_graph_folder_is_refused(tmp_path):
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "meta.json").write_text(json.dumps({"format": "something else"}))
    np.save(tmp_path / "graph" / "neighbours.npy", np.zeros((3, 2), dtype=np.int32))
    with pytest.raises(UserError, match="not a hyperret memory-mapped neighbour graph"):
        NeighbourGraph.open(tmp_path / "graph")


@pytest.mark.slow
def test_search_settings_build_a_large_corpus_graph_out_of_core_and_reuse_it(tmp_path, monkeypatch):
    from hyperret_eval.search import settings

    monkeypatch.setattr(settings, "OUT_OF_CORE_PASSAGES", 1000)
    store, _ = clustered_store(tmp_path / "store", count=3000)
    chosen = settings.SearchSettings(method="graph", degree=20, metric="l2", graph_dir=tmp_path / "graphs",
                                     entry_points=500)
    first = chosen.engine(store, show_progress=False)
    (folder,) = (tmp_path / "graphs").iterdir()
    assert folder.is_dir() and (folder / "neighbours.npy").is_file()
    second = chosen.engine(store, show_progress=False)
    assert mapped_files(second.neighbours) == [str((folder / "neighbours.npy").resolve())], "reopened, not rebuilt"
    assert torch.equal(first.neighbours, second.neighbours)


@pytest.mark.slow
@pytest.mark.torchrun
def test_two_gloo_ranks_search_a_store_as_one_process_does(tmp_path):
    values = tied_passages()
    write(tmp_path / "store", values)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
         "--master-port", str(free_port()), str(Path(__file__).with_name("distributed_store_worker.py")),
         str(tmp_path / "store" / "vectors.npy")],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=child_env())
    assert done.returncode == 0, done.stderr[-3000:]
    merged = json.loads(done.stdout.strip().splitlines()[-1])
    scores, ids = ExhaustiveSearch(values.float(), chunk_size=8).search(random_qnets(3, (16, 16, 16, 1)), 29)
    assert merged["ids"] == ids.tolist()
    assert torch.equal(torch.tensor(merged["scores"]), scores)
