"""Pieces every training loop here shares: seeding, a resumable batch order, and the
optimizer / scheduler / RNG state saved beside a checkpoint."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.paths import safe_name

STATE_DIR = "training"


class Recipe:
    """Mixin for frozen training-config dataclasses. Every setting, with the training data
    files, determines the checkpoint (see :mod:`hyperret_eval.catalogue.checkpoints`)."""

    name: str
    max_steps: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def training_files(self, data_root: Path | None) -> list[Path]:
        """The data files training reads (each checked to exist), so their hashes can name
        the checkpoint."""
        raise NotImplementedError

    def check_common(self) -> None:
        """What every recipe must meet, called first by each recipe's ``__post_init__``:
        a name that is one folder name (it becomes ``<cache>/checkpoints/<name>``), and
        finite numbers (``learning_rate = nan`` or ``temperature = inf`` train nothing)."""
        safe_name(self.name, "recipe name")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"training config {self.name!r}: {field.name} = {value} is not a finite number")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_batches(num_items: int, batch_size: int, seed: int, start_step: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (step, indices) forever from ``start_step`` on. Epoch e is the permutation
    seeded by (seed, e), so a resumed run sees exactly the batches an uninterrupted one
    would; the last incomplete batch of an epoch is dropped."""
    per_epoch = num_items // batch_size
    if per_epoch == 0:
        raise ValueError(f"{num_items} items make no batch of {batch_size}")
    step = start_step
    while True:
        epoch, offset = divmod(step, per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(num_items)
        for position in range(offset, per_epoch):
            yield step, order[position * batch_size : (position + 1) * batch_size]
            step += 1


def optimizer_step(loss: torch.Tensor, optimizer, scheduler) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()


def record_step(state: dict, record: dict, progress, on_step, save_every: int, max_steps: int) -> bool:
    """Append a finished step's record to the run state, report it (progress bar and the
    ``on_step`` callback), and say whether a checkpoint is due."""
    state["history"].append(record)
    state["step"] = record["step"]
    if on_step is not None:
        on_step(record)
    progress.update(1)
    progress.set_postfix(loss=f"{record['loss']:.4f}")
    return state["step"] % save_every == 0 or state["step"] == max_steps


def save_optimizer_state(folder: Path, optimizer, scheduler) -> None:
    """Write the optimizer, scheduler and RNG state into ``folder``: always the staging
    folder of an atomic checkpoint swap (:func:`hyperret_eval.core.atomic.write_directory`),
    so plain writes are safe here."""
    state_dir = folder / STATE_DIR
    state_dir.mkdir(exist_ok=True)
    torch.save(optimizer.state_dict(), state_dir / "optimizer.pt")
    torch.save(scheduler.state_dict(), state_dir / "scheduler.pt")
    torch.save({"cpu": torch.get_rng_state()}, state_dir / "rng.pt")


def load_optimizer_state(folder: Path, optimizer, scheduler) -> None:
    """Restore what :func:`save_optimizer_state` wrote (tensors only: ``weights_only``)."""
    from hyperret_eval.models.weights import unreadable

    def load(name: str):
        with unreadable(folder / STATE_DIR / name, "training state"):
            return torch.load(folder / STATE_DIR / name, weights_only=True)

    optimizer.load_state_dict(load("optimizer.pt"))
    scheduler.load_state_dict(load("scheduler.pt"))
    torch.set_rng_state(load("rng.pt")["cpu"])
