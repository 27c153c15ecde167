"""Merging per-rank top-k lists into the corpus-wide top-k (``torchrun``: each rank
searched its own slice of the passages), and exhaustive q-net search sharded that way."""

from __future__ import annotations

import torch

from hyperret_eval.core.distributed import gather_along_columns
from hyperret_eval.core.world import World
from hyperret_eval.models.hypencoder.qnet import QNets
from hyperret_eval.search.exhaustive import CPU_CHUNK, CUDA_CHUNK, ExhaustiveSearch, best_k


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


def shard_top_k(world: World, passages: torch.Tensor, qnets: QNets, k: int, *, chunk_size: int | None = None,
                **engine: object) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's top-k [Q, k] over its contiguous share of ``passages`` (a slice of a
    memory-mapped store is a view, so each rank reads only its own part of the file), with
    corpus-wide ids; padded with score -inf and id -1 where the share holds fewer than k.
    Shares start on multiples of the chunk size, so every passage sits at the place in its
    chunk it has in one process and scores the same to the last bit. ``engine``: the other
    :class:`ExhaustiveSearch` settings."""
    device = torch.device(engine.get("device") or passages.device)
    chunk_size = chunk_size or (CUDA_CHUNK if device.type == "cuda" else CPU_CHUNK)
    share = world.shard(passages.shape[0], align=chunk_size)
    scores = torch.full((len(qnets), k), float("-inf"))
    ids = torch.full((len(qnets), k), -1, dtype=torch.long)
    if len(share):
        local_scores, local_ids = ExhaustiveSearch(passages[share.start : share.stop], chunk_size=chunk_size,
                                                      **engine).search(qnets, k)
        found = local_scores.shape[1]
        scores[:, :found], ids[:, :found] = local_scores.cpu(), local_ids.cpu() + share.start
    return scores, ids


def sharded_exhaustive_search(world: World, passages: torch.Tensor, qnets: QNets, k: int, *,
                              chunk_size: int | None = None, **engine: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Exhaustive search of ``passages`` with every rank scoring its own share and the
    shares' top-k merged (:func:`merge_ranked`): the same scores and ids, ties by passage
    id, as one process searching them all. Every rank calls it and gets the answer."""
    k = min(k, passages.shape[0])
    scores, ids = merge_ranked(world, *shard_top_k(world, passages, qnets, k, chunk_size=chunk_size, **engine), k)
    return scores, ids
