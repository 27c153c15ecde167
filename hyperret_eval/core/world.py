"""Which process this is: the world ``torchrun`` describes in the environment.

Outside torchrun (no ``WORLD_SIZE`` in the environment, or 1) this is a world of one: one
process owns the whole corpus and no collective is ever called, so the single-process
path is the same code with a world of one. Reading it imports no torch; the collectives
are in :mod:`hyperret_eval.core.distributed`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hyperret_eval.core.errors import UserError


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
