"""Exhaustive q-net search: every query's q-net against every passage, top-k kept.

Passages are scored a chunk at a time and queries a batch at a time, so memory holds
one (query batch x passage chunk x widest q-net layer) activation per worker, never
Q x N x hidden; a running top-k is merged after each chunk.

On the CPU the chunks are shared out dynamically: one worker thread per torch thread,
each scoring whole chunks with a single intra-op thread and taking the next chunk when
it is done. Splitting every small matrix product across threads instead (torch's own
parallelism) makes each product wait for its slowest thread, which on a machine with
any other busy process is most of the time; with dynamic chunks a descheduled worker
only delays its own chunk. ``benchmarks/qnet_throughput.py`` measures both, quiet and
under load.

Passages already on the search device are used where they are, each chunk converted to
the compute dtype as it is scored, so a memory-mapped corpus (say float16 vectors from
the passage cache) is read a chunk at a time and never copied whole into memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch

from hyperret_eval.core.bars import progress_bar
from hyperret_eval.core.estimate import CostEstimate
from hyperret_eval.models.hypencoder.qnet import QNets

# Passages per chunk. On the CPU a chunk's activations (query batch x chunk x hidden)
# should stay in cache between the q-net's layers; a GPU wants large matrices.
CPU_CHUNK = 256
CUDA_CHUNK = 65536
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

log = logging.getLogger(__name__)


def _best_columns(scores: torch.Tensor, ids: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of the k best columns of each row of [Q, M] ``scores``, ties broken by the
    lower passage id, so the answer does not depend on the order the candidates arrived in
    (which chunk, worker or torchrun rank scored them). topk would keep an arbitrary one
    of the tied candidates at the k-th place."""
    by_id = ids.argsort(dim=1, stable=True)
    by_score = scores.gather(1, by_id).argsort(dim=1, descending=True, stable=True)[:, :k]
    return by_id.gather(1, by_score)


def best_k(scores: torch.Tensor, ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best scores of each row of [Q, M] ``scores`` and their passage ``ids``
    (:func:`_best_columns`)."""
    where = _best_columns(scores, ids, k)
    return scores.gather(1, where), ids.gather(1, where)


class TopK:
    """A running top-k per query: merge scored candidates in, keep the k best, ties to the
    lower passage id."""

    def __init__(self, queries: int, k: int, device: torch.device) -> None:
        self.k = k
        self.scores = torch.full((queries, k), float("-inf"), device=device)
        self.ids = torch.full((queries, k), -1, dtype=torch.long, device=device)

    def merge(self, scores: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Merge [Q, M] scores and ids; return how many of each row's M made the top-k."""
        all_scores = torch.cat([self.scores, scores], dim=1)
        all_ids = torch.cat([self.ids, ids.expand(len(self.ids), -1)], dim=1)
        where = _best_columns(all_scores, all_ids, self.k)
        self.scores, self.ids = all_scores.gather(1, where), all_ids.gather(1, where)
        return ((where >= self.k) & (self.scores > float("-inf"))).sum(dim=1)


def best_of(parts: list[TopK], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best of several workers' top-k lists (:func:`best_k`)."""
    return best_k(torch.cat([part.scores for part in parts], dim=1), torch.cat([part.ids for part in parts], dim=1), k)


class _ScoreCounter:
    """The scores computed so far, counted by every worker into one progress bar and
    cost estimate."""

    def __init__(self, bar, estimate: CostEstimate | None) -> None:
        self._bar, self._estimate = bar, estimate
        self._lock = threading.Lock()

    def add(self, scores: int) -> None:
        with self._lock:
            self._bar.update(scores)
            if self._estimate is not None:
                self._estimate.update(scores)


class _SharedOffsets:
    """Chunk start offsets handed out one at a time to whichever worker asks first."""

    def __init__(self, offsets: range) -> None:
        self._offsets: Iterator[int] = iter(offsets)
        self._lock = threading.Lock()

    def next(self) -> int | None:
        with self._lock:
            return next(self._offsets, None)


@contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """torch's intra-op threads set to one while the workers run (they are the
    parallelism), restored afterwards. The setting is process-wide."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class ExhaustiveSearch:
    def __init__(self, passages: torch.Tensor, *, chunk_size: int | None = None, query_batch: int = 16,
                 dtype: str | torch.dtype = torch.float32, device: str | torch.device | None = None,
                 workers: int | None = None, show_progress: bool = False) -> None:
        """``workers``: CPU threads scoring chunks side by side (default: torch's thread
        count); a GPU always uses one, its parallelism is inside each chunk."""
        self.dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
        self.device = torch.device(device) if device else passages.device
        self.passages = passages if passages.device == self.device else passages.to(self.device, self.dtype)
        self.chunk_size = chunk_size or (CUDA_CHUNK if self.device.type == "cuda" else CPU_CHUNK)
        self.query_batch = query_batch
        self.workers = 1 if self.device.type != "cpu" else max(1, workers or torch.get_num_threads())
        self.show_progress = show_progress

    def search(self, qnets: QNets, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and passage indices [Q, k], best first (k is capped at the corpus size).

        With ``show_progress`` a bar counts the q-net scores (query x passage) computed,
        with an ETA, and once the first seconds are timed one line says how many scores the
        search needs and how long they will take at the rate measured."""
        k = min(k, self.passages.shape[0])
        qnets = qnets.to(self.device, self.dtype)
        batches = [qnets.select(slice(start, start + self.query_batch))
                   for start in range(0, len(qnets), self.query_batch)]
        total = len(qnets) * self.passages.shape[0]
        with progress_bar(total=total, desc="Scoring queries x passages", unit="score", unit_scale=True,
                          disable=not self.show_progress) as bar:
            counter = _ScoreCounter(bar, CostEstimate(
                f"exhaustive search of {len(qnets):,} queries over {self.passages.shape[0]:,} passages",
                total, "scores", log) if self.show_progress else None)
            if self.workers == 1:
                results = [best_of([self._drain(batch, k, self._offsets(), counter)], k) for batch in batches]
            else:
                with one_intra_op_thread(), ThreadPoolExecutor(self.workers, thread_name_prefix="qnet") as pool:
                    results = [self._in_parallel(pool, batch, k, counter) for batch in batches]
        return torch.cat([scores for scores, _ in results]), torch.cat([ids for _, ids in results])

    def _offsets(self) -> _SharedOffsets:
        return _SharedOffsets(range(0, self.passages.shape[0], self.chunk_size))

    def _in_parallel(self, pool: ThreadPoolExecutor, batch: QNets, k: int,
                     counter: _ScoreCounter) -> tuple[torch.Tensor, torch.Tensor]:
        offsets = self._offsets()
        parts = list(pool.map(lambda _: self._drain(batch, k, offsets, counter), range(self.workers)))
        return best_of(parts, k)

    @torch.inference_mode()
    def _drain(self, batch: QNets, k: int, offsets: _SharedOffsets, counter: _ScoreCounter) -> TopK:
        """Score chunks until none is left; the top-k of the chunks this caller scored.
        (Inference mode is per thread, hence here and not on :meth:`search`.)"""
        best = TopK(len(batch), k, self.device)
        while (offset := offsets.next()) is not None:
            chunk = self.passages[offset : offset + self.chunk_size].to(self.dtype)
            best.merge(batch.apply_shared(chunk).float(), torch.arange(offset, offset + chunk.shape[0], device=self.device))
            counter.add(len(batch) * chunk.shape[0])
        return best
