"""Exhaustive search of dense vectors: every query against every passage vector, scored a
chunk of passages at a time by the model's own similarity function, a running top-k
merged after each chunk.

Memory holds one chunk (converted to float32) and its [Q, chunk] scores, never the
[Q, N] matrix nor the corpus: passages on a read-only memmap (the passage cache's file)
are read from disk as each chunk is scored, so a corpus larger than memory is searched
in the memory of one chunk. ``benchmarks/dense_memmap_search.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hyperret_eval.core.bars import progress_bar
from hyperret_eval.search.exhaustive import TopK, best_k

# Passages per chunk: 16,384 x 384 float32 is 24 MiB, and its scores for 1,000 queries 62 MiB.
CHUNK = 16384

Similarity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class DenseSearch:
    def __init__(self, passages: torch.Tensor, similarity: Similarity, *, chunk_size: int = CHUNK,
                 device: str | torch.device | None = None, show_progress: bool = False) -> None:
        """``similarity(queries [Q, d], passages [C, d]) -> [Q, C]`` (higher is better), as
        mteb's encoders define it (cosine for most sentence-transformers models).
        ``device``: where chunks are scored (default: where the passages are), each chunk
        moved there as it is scored."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.passages = passages
        self.similarity = similarity
        self.chunk_size = chunk_size
        self.device = torch.device(device) if device else passages.device
        self.show_progress = show_progress

    @torch.inference_mode()
    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and passage indices [Q, k], best first, ties to the lower passage index
        (k is capped at the corpus size)."""
        count = self.passages.shape[0]
        k = min(k, count)
        queries = queries.to(self.device, torch.float32)
        best = TopK(len(queries), k, queries.device)
        offsets = range(0, count, self.chunk_size)
        for offset in progress_bar(offsets, desc="Searching passage chunks", disable=not self.show_progress):
            chunk = self.passages[offset : offset + self.chunk_size].to(self.device, torch.float32)
            scores = torch.as_tensor(self.similarity(queries, chunk)).to(queries.device, torch.float32)
            best.merge(scores, torch.arange(offset, offset + len(chunk), device=queries.device))
        return best_k(best.scores, best.ids, k)

    @torch.inference_mode()
    def score_some(self, queries: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """[Q, n] scores of ``queries`` against the passages at ``positions`` only (a
        candidate list), by the same similarity and in the same dtype as :meth:`search`."""
        chosen = self.passages[positions].to(self.device, torch.float32)
        return torch.as_tensor(self.similarity(queries.to(self.device, torch.float32), chosen)).float()
