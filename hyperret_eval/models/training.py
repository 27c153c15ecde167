"""The one resumable training loop that HiCL, SimCSE, Hypencoder and BE all train with.

A model brings a :class:`Trainee`: what is trained, how one step's batch becomes a loss,
and how the model is saved. The loop brings the rest: the state file (resume or begin,
see :mod:`~hyperret_eval.models.training_state`), seeding, AdamW with its learning-rate
schedule, batches in a resumable order, bfloat16 autocast on a GPU that has it, a
checkpoint every ``save_every`` steps (replaced atomically, with the optimizer, scheduler
and RNG state that resuming needs), and the :class:`TrainResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hyperret_eval.core.bars import progress_bar
from hyperret_eval.core.distributed import barrier
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.seeding import seed_everything
from hyperret_eval.core.world import World
from hyperret_eval.models.recipe import Recipe
from hyperret_eval.models.training_state import STATE_DIR, TrainingState
from hyperret_eval.models.weights import unreadable


@dataclass
class TrainResult:
    output: Path
    steps_done: int
    history: list[dict]
    resumed_from: int


class Trainee:
    """One model's side of :func:`train_resumable`. The defaults train every parameter at
    the recipe's ``learning_rate`` with dropout on; a model says how a step's batch becomes
    a loss and how it is saved."""

    model: nn.Module
    config: Recipe

    def parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW's parameter groups, each with its learning rate."""
        return [{"params": list(self.model.parameters()), "lr": self.config.learning_rate}]

    def train_mode(self) -> None:
        """Training mode (dropout on); called again after every save, which may switch it off."""
        self.model.train()

    def batch_loss(self, step: int, indices: np.ndarray) -> tuple[torch.Tensor, dict[str, Any]]:
        """The loss of step ``step`` on the training examples at ``indices``, and its record
        for the history (holding at least ``loss``)."""
        raise NotImplementedError

    def save(self, folder: Path, extra: Callable[[Path], None]) -> None:
        """Replace ``folder`` atomically with the model; ``extra(staging)`` adds the
        training state to the same swap."""
        raise NotImplementedError


def train_resumable(config: Recipe, output: Path, *, device: str, examples: int, data: dict[str, Any],
                    build: Callable[[Path | None], Trainee], lr_schedule: str = "linear", warmup_steps: int = 0,
                    on_step: Callable[[dict], None] | None = None, world: World | None = None,
                    autocast: bool = True) -> TrainResult:
    """Train (or resume) ``config`` into ``output``; ``on_step`` sees each step's record.

    ``build(resume_from)`` makes the trainee, on ``device`` and in training mode: fresh
    when ``resume_from`` is None, else from the checkpoint there. ``examples`` is how many
    training examples an epoch has; ``data`` describes them in the state file. On a GPU
    that supports bfloat16 the batches run under bfloat16 autocast (weights and optimizer
    stay float32) unless ``autocast`` is False; like the device, this is not part of the
    recipe, and the state file records it. In a torchrun ``world`` only rank 0 writes.
    """
    world = world or World()
    if examples < config.batch_size:
        raise UserError(f"only {examples} training examples, fewer than one batch of {config.batch_size}")
    state = TrainingState.begin(output, config, data)
    seed_everything(config.seed)
    trainee = build(output if state.resuming else None)
    optimizer = torch.optim.AdamW(trainee.parameter_groups(), weight_decay=config.weight_decay)
    scheduler = learning_rate_schedule(optimizer, lr_schedule, warmup_steps, config.max_steps)
    start = state.step
    if state.resuming:
        load_optimizer_state(output, optimizer, scheduler)
    if start >= config.max_steps:
        return TrainResult(output, start, state.history, start)

    bf16 = autocast and device.startswith("cuda") and torch.cuda.is_bf16_supported()
    state.body["autocast"] = "bfloat16" if bf16 else None
    progress = progress_bar(total=config.max_steps, initial=start, desc=f"Training {config.name}", unit="step",
                    disable=not world.is_main)
    started = time.perf_counter()
    for step, indices in epoch_batches(examples, config.batch_size, config.seed, start):
        if step >= config.max_steps:
            break
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=bf16):
            loss, record = trainee.batch_loss(step, indices)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        record.update(step=step + 1, lr=scheduler.get_last_lr()[0], elapsed_s=round(time.perf_counter() - started, 2))
        state.add(record)
        if on_step is not None:
            on_step(record)
        progress.update(1)
        progress.set_postfix(loss=f"{record['loss']:.4f}", refresh=False)  # redrawn as the bar's pace says
        if state.step % config.save_every == 0 or state.step == config.max_steps:
            if world.is_main:
                trainee.save(output, lambda folder: _save_state(folder, state, optimizer, scheduler))
            barrier(world)
            trainee.train_mode()
    progress.close()
    return TrainResult(output, state.step, state.history, start)


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


def learning_rate_schedule(optimizer, name: str, warmup_steps: int, total_steps: int):
    """transformers' schedule ``name`` (one of :data:`~hyperret_eval.models.recipe.SCHEDULES`)."""
    from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

    if name == "constant_with_warmup":
        return get_constant_schedule_with_warmup(optimizer, warmup_steps)
    return get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)


def _save_state(folder: Path, state: TrainingState, optimizer, scheduler) -> None:
    save_optimizer_state(folder, optimizer, scheduler)
    state.write_into(folder)


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

    def load(name: str):
        with unreadable(folder / STATE_DIR / name, "training state"):
            return torch.load(folder / STATE_DIR / name, weights_only=True)

    optimizer.load_state_dict(load("optimizer.pt"))
    scheduler.load_state_dict(load("scheduler.pt"))
    torch.set_rng_state(load("rng.pt")["cpu"])
