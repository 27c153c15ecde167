"""Merging per-rank top-k lists into the corpus-wide top-k (``torchrun``: each rank
searched its own slice of the passages)."""

from __future__ import annotations

import torch

from hyperret_eval.core.distributed import gather_along_columns
from hyperret_eval.core.world import World
from hyperret_eval.search.exhaustive import best_k


def merge_ranked(world: World, scores: torch.Tensor, ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best of every rank's [Q, k] ``scores`` and corpus-wide ``ids`` (-1 where a rank
    had fewer than k passages, with score -inf). Every rank gets the same answer.

    A passage in the global top-k is in its own rank's top-k, so the merge is exact; ties
    go to the lower passage id, as in one process.
    """
    if not world.distributed:
        return scores, ids
    all_scores = gather_along_columns(world, scores)
    all_ids = gather_along_columns(world, ids)
    return best_k(all_scores, all_ids, k)
