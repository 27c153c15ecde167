"""`hyperret-eval train` under torchrun: DistributedDataParallel with in-batch negatives
gathered across ranks computes the gradient one process computes on the whole batch, and
a two-rank training run writes one checkpoint, from rank 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperret_eval.models.hypencoder import Hypencoder
from tests.conftest import REPO, free_port

pytestmark = pytest.mark.torchrun


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
            "--master-port", str(free_port()), *args]


def _check(command: list[str]) -> str:
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_two_ranks_compute_the_whole_batch_gradient() -> None:
    out = _check(_torchrun(str(Path(__file__).with_name("distributed_gradient_worker.py")), "hypencoder", "be"))
    report = json.loads(out.strip().splitlines()[-1])
    for kind in ("hypencoder", "be"):
        numbers = report[kind]
        assert numbers["loss_sharded"] == pytest.approx(numbers["loss_whole"], rel=1e-5), kind
        assert numbers["max_abs_diff"] <= 1e-4 * numbers["scale"], (kind, numbers)


def test_torchrun_training_writes_one_loadable_checkpoint(train_root, tmp_path: Path) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text('recipe = "hypencoder"\nqnet_layers = 1\nnegatives = 1\nbatch_size = 4\nmax_steps = 3\n'
                      'save_every = 2\n', encoding="utf-8")
    out = _check(_torchrun("-m", "hyperret_eval.cli", "train", str(recipe), "--output", str(tmp_path / "model"),
                           "--data-root", str(train_root), "--device", "cpu"))
    assert out.count("3 of 3 steps") == 1  # rank 0 reports, alone
    state = json.loads((tmp_path / "model" / "training" / "state.json").read_text(encoding="utf-8"))
    assert [h["step"] for h in state["history"]] == [1, 2, 3]
    assert all(h["loss"] > 0 for h in state["history"])
    model = Hypencoder.from_pretrained(tmp_path / "model")
    assert model.encode_queries(["a claim"]).score(model.encode_passages(["an abstract"])).shape == (1, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "model", "tiny.toml"]  # no stray staging
