"""The device a run uses (``--device``), and running under ``torchrun``: which process
this is, the process group, and the corpus slice each process owns.

Outside torchrun (no ``WORLD_SIZE`` in the environment, or 1) everything here is the
identity: one process owns the whole corpus and no collective is ever called, so the
single-process path is the same code with a world of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from hyperret_eval.core.errors import UserError

# Ranks wait for each other at the top-k merge while rank 0 alone runs the STS tasks
# and writes results; that can take long on a big run, far past torch's 10-minute default.
COLLECTIVE_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, count: int, align: int = 1) -> range:
        """This rank's contiguous share of ``count`` items. Boundaries fall on multiples of
        ``align`` (the encoding batch size), so every rank encodes exactly the batches a
        single process would, and the vectors come out bit for bit the same."""
        blocks = -(-count // align)
        start = blocks * self.rank // self.size * align
        stop = blocks * (self.rank + 1) // self.size * align
        return range(min(start, count), min(stop, count))

    def device(self, requested: str) -> str:
        """Each process on a node takes its own GPU: ``cuda`` becomes ``cuda:<local rank>``."""
        if self.distributed and requested == "cuda":
            return f"cuda:{self.local_rank}"
        return requested


def resolve_device(requested: str) -> str:
    """``--device``: ``auto`` picks CUDA when torch sees it; anything else must be a device torch knows and has."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(requested)
    except RuntimeError:
        raise UserError(f"--device {requested!r}: expected auto, cpu, cuda or cuda:N") from None
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {requested}: this machine has no CUDA device visible to torch; use --device cpu.")
    return requested


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise UserError(f"environment variable {name}={value!r} is not an integer (torchrun sets it)") from None


def current_world() -> World:
    """The world torchrun describes in the environment (a world of one without it)."""
    return World(rank=_env_int("RANK", 0), size=_env_int("WORLD_SIZE", 1), local_rank=_env_int("LOCAL_RANK", 0))


def init_world(device: str) -> World:
    """Join the process group when started by torchrun: NCCL for CUDA devices, gloo on CPU."""
    world = current_world()
    if world.distributed and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT)
    return world


def close_world() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def gather_along_columns(world: World, tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's [rows, cols] tensor side by side: [rows, world.size * cols], rank order."""
    if not world.distributed:
        return tensor
    # NCCL moves CUDA tensors only; gloo, CPU ones.
    wire = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    parts = [torch.empty_like(tensor, device=wire) for _ in range(world.size)]
    dist.all_gather(parts, tensor.to(wire).contiguous())
    return torch.cat(parts, dim=1).to(tensor.device)


def all_gather_with_grad(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (same shape on all ranks), gradients flowing back to their owners."""
    from torch.distributed.nn.functional import all_gather

    return list(all_gather(tensor.contiguous()))


def reduce_mean(world: World, tensor: torch.Tensor) -> None:
    """Average ``tensor`` over the ranks, in place."""
    dist.all_reduce(tensor)
    tensor /= world.size
