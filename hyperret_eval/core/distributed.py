"""The device a run uses (``--device``), and the collectives of a ``torchrun`` world: the
process group, barriers, gathers and means across ranks.

In a world of one (:mod:`hyperret_eval.core.world`) every function here is the identity
or does nothing: no collective is ever called.
"""

from __future__ import annotations

from datetime import timedelta

import torch
import torch.distributed as dist

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.world import World, current_world

# Ranks wait for each other at the top-k merge while rank 0 alone runs the STS tasks
# and writes results; that can take long on a big run, far past torch's 10-minute default.
COLLECTIVE_TIMEOUT = timedelta(hours=2)


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
