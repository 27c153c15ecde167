"""torchrun: two CPU processes over gloo give the single process's results, for a
sentence-transformers model (the cached dense search, sharded: each rank encodes and
caches its own share) and a Hypencoder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hyperret_eval.core.world import World
from tests.conftest import REPO, copy_head, free_port, make_small_beir, official_hypencoder

MODEL_FOLDERS = ("sentence-transformers__all-MiniLM-L6-v2", "local__hypencoder-official-format-tiny")


def _run(launcher: list[str], data: Path, output: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYPERRET_CACHE": str(output.parent / "cache")}
    command = [*launcher, "-m", "hyperret_eval.cli", "run", "--tasks", "STS12,SciFact",
               "--models", f"minilm,{official_hypencoder()}", "--data-root", str(data), "--output-dir", str(output),
               "--device", "cpu", "--batch-size", "16", "--no-senteval", "--save-predictions"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def _result(folder: Path, model: str, name: str) -> dict:
    [path] = folder.glob(f"{model}/*/{name}")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def one_and_two_process_runs(tmp_path_factory, data_root: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("torchrun")
    data = root / "data"
    # 30 queries over 232 passages: 15 batches of 16, so the two shards differ in size.
    make_small_beir(data_root / "beir" / "scifact", data / "beir" / "scifact", n_queries=30, n_extra_docs=200)
    for kind in ("input", "gs"):
        copy_head(data_root / "sts/original/STS12" / f"STS.{kind}.MSRvid.txt",
                  data / "sts/original/STS12" / f"STS.{kind}.MSRvid.txt", 20)
    _run([sys.executable], data, root / "one")
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
          "--master-port", str(free_port())], data, root / "two")
    return root / "one", root / "two"


@pytest.mark.torchrun
@pytest.mark.parametrize("model", MODEL_FOLDERS)
def test_two_gloo_ranks_rank_like_one_process(one_and_two_process_runs, model: str) -> None:
    one, two = one_and_two_process_runs
    single = _result(one, model, "predictions/SciFact_predictions.json")["default"]["test"]
    sharded = _result(two, model, "predictions/SciFact_predictions.json")["default"]["test"]
    assert single.keys() == sharded.keys() and len(single) == 30
    for query_id, run in single.items():
        ranked = sorted(run, key=run.get, reverse=True)
        assert ranked == sorted(sharded[query_id], key=sharded[query_id].get, reverse=True)
        # Hypencoder shards encode the very same batches: identical. mteb's dense encoder
        # sorts a call's texts by length, so its batches (and last bits) may differ.
        assert sharded[query_id] == pytest.approx(run, abs=1e-6)
    assert _result(two, model, "SciFact.json")["scores"] == _result(one, model, "SciFact.json")["scores"]
    # Rank 0 scores the merged run: every query's values are those of one process.
    single_queries = _result(one, model, "per_query/SciFact.json")["queries"]
    sharded_queries = _result(two, model, "per_query/SciFact.json")["queries"]
    assert len(single_queries) == 30 and sharded_queries.keys() == single_queries.keys()
    for query_id, values in single_queries.items():
        assert sharded_queries[query_id] == pytest.approx(values, abs=1e-6)


@pytest.mark.torchrun
def test_each_rank_encodes_and_caches_its_own_share(one_and_two_process_runs) -> None:
    """The embedding cache of the two runs (one cache root): the one process's entry holds
    the whole corpus, the two ranks' entries one share each."""
    from hyperret_eval.integrations.mteb_dense import FORMAT

    one, _ = one_and_two_process_runs
    metas = [json.loads(path.read_text()) for path in (one.parent / "cache" / "passages").glob("*/meta.json")]
    counts = sorted(meta["count"] for meta in metas if meta["key"]["format"] == FORMAT and meta["complete"])
    shares = [len(World(rank=rank, size=2).shard(232, align=16)) for rank in range(2)]
    assert counts == sorted([*shares, 232]) and shares[0] != shares[1]


@pytest.mark.torchrun
def test_rank_zero_alone_runs_sts_and_writes(one_and_two_process_runs) -> None:
    one, two = one_and_two_process_runs
    minilm = MODEL_FOLDERS[0]
    assert _result(two, minilm, "STS12.json")["scores"] == _result(one, minilm, "STS12.json")["scores"]
    assert len(list((two / "runs").glob("*.json"))) == 1  # one manifest: rank 0's


def test_shards_cover_the_corpus_on_batch_boundaries() -> None:
    for count in (0, 1, 15, 232, 1000):
        for size in (1, 2, 3, 8):
            shards = [World(rank=r, size=size).shard(count, align=16) for r in range(size)]
            assert [i for s in shards for i in s] == list(range(count))
            assert all(s.start % 16 == 0 for s in shards if len(s))


@pytest.mark.torchrun
def test_merge_is_the_global_top_k() -> None:
    """The top-k merge over ranks, with gloo over two real processes."""
    scores = torch.randn(5, 40, generator=torch.Generator().manual_seed(0))
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
         "--master-port", str(free_port()), str(Path(__file__).with_name("distributed_merge_worker.py"))],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    merged = json.loads(done.stdout.strip().splitlines()[-1])
    best, ids = scores.topk(7, dim=1)
    assert merged["ids"] == ids.tolist()
    assert torch.equal(torch.tensor(merged["scores"]), best)


def test_a_rank_without_a_share_indexes_nothing() -> None:
    """More ranks than batches: the rank left without passages must not index an empty corpus."""
    from datasets import Dataset

    from hyperret_eval.integrations.mteb_sharded import ShardedMTEBSearch

    class Inner:
        mteb_model_meta = None

        def index(self, corpus, **kwargs):
            raise AssertionError("a rank without a share must not index")

    search = ShardedMTEBSearch(Inner(), World(rank=0, size=2))
    search.index(Dataset.from_dict({"id": ["a", "b"], "text": ["x", "y"]}), encode_kwargs={"batch_size": 32})
    assert len(World(rank=0, size=2).shard(2, align=32)) == 0
