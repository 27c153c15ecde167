"""Merging per-rank top-k lists into the corpus-wide top-k (``torchrun``: each rank
searched its own slice of the passages)."""

from __future__ import annotations

import torch

from hyperret_eval.core.distributed import gather_along_columns
from hyperret_eval.core.world import World


def merge_ranked(world: World, scores: torch.Tensor, ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best of every rank's [Q, k] ``scores`` and corpus-wide ``ids`` (-1 where a rank
    had fewer than k passages, with score -inf). Every rank gets the same answer.

    A passage in the global top-k is in its own rank's top-k, so the merge is exact.
    """
    if not world.distributed:
        return scores, ids
    all_scores = gather_along_columns(world, scores)
    all_ids = gather_along_columns(world, ids)
    best, where = all_scores.topk(min(k, all_scores.shape[1]), dim=1)
    return best, all_ids.gather(1, where)
