"""Exhaustive q-net search: every query's q-net against every passage, top-k kept.

Passages are scored a chunk at a time and queries a batch at a time, so memory holds
one (query batch x passage chunk x widest q-net layer) activation, never Q x N x hidden;
a running top-k is merged after each chunk.

Passages already on the search device are used where they are, each chunk converted to
the compute dtype as it is scored, so a memory-mapped corpus (say float16 vectors from
the passage cache) is read a chunk at a time and never copied whole into memory.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from hyperret_eval.models.hypencoder.qnet import QNets

# Passages per chunk. On the CPU a chunk's activations (query batch x chunk x hidden)
# should stay in cache between the q-net's layers; a GPU wants large matrices.
CPU_CHUNK = 256
CUDA_CHUNK = 65536
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class TopK:
    """A running top-k per query: merge scored candidates in, keep the k best."""

    def __init__(self, queries: int, k: int, device: torch.device) -> None:
        self.k = k
        self.scores = torch.full((queries, k), float("-inf"), device=device)
        self.ids = torch.full((queries, k), -1, dtype=torch.long, device=device)

    def merge(self, scores: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Merge [Q, M] scores and ids; return how many of each row's M made the top-k."""
        merged, where = torch.cat([self.scores, scores], dim=1).topk(self.k, dim=1)
        self.ids = torch.cat([self.ids, ids.expand(len(self.ids), -1)], dim=1).gather(1, where)
        self.scores = merged
        return ((where >= self.k) & (merged > float("-inf"))).sum(dim=1)


class ExhaustiveSearch:
    def __init__(self, passages: torch.Tensor, *, chunk_size: int | None = None, query_batch: int = 16,
                 dtype: str | torch.dtype = torch.float32, device: str | torch.device | None = None,
                 show_progress: bool = False) -> None:
        self.dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
        self.device = torch.device(device) if device else passages.device
        self.passages = passages if passages.device == self.device else passages.to(self.device, self.dtype)
        self.chunk_size = chunk_size or (CUDA_CHUNK if self.device.type == "cuda" else CPU_CHUNK)
        self.query_batch = query_batch
        self.show_progress = show_progress

    @torch.inference_mode()
    def search(self, qnets: QNets, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and passage indices [Q, k], best first (k is capped at the corpus size)."""
        k = min(k, self.passages.shape[0])
        qnets = qnets.to(self.device, self.dtype)
        all_scores, all_ids = [], []
        batches = range(0, len(qnets), self.query_batch)
        for start in tqdm(batches, desc="Scoring queries", disable=not self.show_progress):
            batch = qnets.select(slice(start, start + self.query_batch))
            best = TopK(len(batch), k, self.device)
            for offset in range(0, self.passages.shape[0], self.chunk_size):
                chunk = self.passages[offset : offset + self.chunk_size].to(self.dtype)
                best.merge(batch.apply_shared(chunk).float(), torch.arange(offset, offset + chunk.shape[0], device=self.device))
            all_scores.append(best.scores)
            all_ids.append(best.ids)
        return torch.cat(all_scores), torch.cat(all_ids)
