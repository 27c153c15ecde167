"""Run by benchmarks/gpu_check.py under ``torchrun``: join a process group over NCCL
(``cuda``) or gloo (``cpu``), run the collectives training and sharded search use, and
print what rank 0 got as one line of JSON.

    torchrun --standalone --nproc-per-node 1 benchmarks/gpu_check_worker.py cuda 4

Each rank holds ``elements`` values ``arange(elements) + rank``: their mean over ranks
(``reduce_mean``) is ``arange(elements) + (size - 1) / 2``. Through
``all_gather_with_grad`` each rank gathers every rank's ``[0, 1, 2] * (rank + 1)`` and
weighs rank i's part by i + 1, so the gradient reaching rank r's input is
``size * (r + 1)**2`` for each element.
"""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist

from hyperret_eval.core.distributed import all_gather_with_grad, reduce_mean
from hyperret_eval.core.world import current_world


def main(device_type: str, elements: int) -> None:
    world = current_world()
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(world.local_rank)
    device = torch.device("cuda", world.local_rank) if backend == "nccl" else torch.device("cpu")
    # init_world joins a group only for two or more processes; a world of one joins here.
    dist.init_process_group(backend=backend)

    values = torch.arange(elements, dtype=torch.float32, device=device) + world.rank
    reduce_mean(world, values)
    expected = torch.arange(elements, dtype=torch.float32, device=device) + (world.size - 1) / 2

    part = torch.arange(3, dtype=torch.float32, device=device, requires_grad=True)
    gathered = all_gather_with_grad(part * (world.rank + 1))
    sum((i + 1) * piece.sum() for i, piece in enumerate(gathered)).backward()

    if world.is_main:
        print(json.dumps({
            "backend": dist.get_backend(), "world_size": world.size, "elements": elements,
            "all_reduce_max_error": float((values - expected).abs().max()),
            "all_gather": [piece.tolist() for piece in gathered], "gradient": part.grad.tolist(),
        }))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
