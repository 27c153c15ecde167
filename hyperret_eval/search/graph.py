"""Approximate q-net search over a passage neighbour graph (the Hypencoder paper's
efficient search).

A q-net is not a distance, so no vector index can search it directly. What the paper
exploits instead: a q-net is a smooth function of the passage vector, so passages near
a high-scoring passage tend to score high too. Search starts from a fixed set of entry
passages, scores them, then repeatedly expands the neighbours of the ``ncandidates``
best passages of the last frontier, scoring only passages not seen before, until
``max_iter`` rounds or (``early_stop``) until a round adds nothing to the top-k.

The neighbour graph (each passage's ``degree`` nearest passages by L2 or inner product)
is built once with faiss, saved as safetensors beside a fingerprint of the passage
vectors it was built on, and refused when loaded against other passages.

Queries are searched a batch at a time with tensors, not one by one with heaps: each
row of the frontier is one query's set of unseen neighbours, padded to the longest row.
How a frontier is scored depends on the device. A GPU scores the padded rows in one
batched product. A CPU scores each query's own rows with its own matrix products: on
a 2-core machine that was 2.4x faster than the padded batched product on the 100k
synthetic corpus of ``benchmarks/graph_search.py``, of which 1.4x is padding and the
rest is that one large GEMM per query runs nearer the machine's peak than a batched one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hyperret_eval.core import atomic
from hyperret_eval.core.bars import progress_bar
from hyperret_eval.core.errors import UserError
from hyperret_eval.models.hypencoder.qnet import QNets
from hyperret_eval.search.exhaustive import DTYPES, TopK

METRICS = ("l2", "ip")
GRAPH_FORMAT = "hyperret-neighbour-graph/1"


def passages_fingerprint(passages: torch.Tensor) -> str:
    """sha256 of the vectors' float32 bytes and shape: which passages a graph belongs to."""
    array = np.ascontiguousarray(passages.detach().to("cpu", torch.float32).numpy())
    digest = hashlib.sha256(json.dumps(list(array.shape)).encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


@dataclass
class NeighbourGraph:
    """``neighbours[i]``: the ids of passage i's nearest passages, nearest first (-1 pads
    rows of a corpus smaller than the degree)."""

    neighbours: torch.Tensor  # [N, degree], int64
    metric: str
    method: str
    passages_sha256: str

    @property
    def degree(self) -> int:
        return self.neighbours.shape[1]

    @classmethod
    def build(cls, passages: torch.Tensor, degree: int = 32, metric: str = "ip", method: str = "auto",
              batch_size: int = 4096, show_progress: bool = False) -> NeighbourGraph:
        """k-nearest-neighbour graph of ``passages`` [N, d] with faiss.

        ``metric="ip"`` links each passage to those with the largest inner product with
        it, ``"l2"`` to the closest. Inner product is the default because it searched
        better: on SciFact with our trained Hypencoders it reached recall@10 0.95 against
        exhaustive while scoring a fifth of the corpus, where L2 needed half; on the
        synthetic corpus, whose vectors have nearly equal norms, the two are alike
        (``benchmarks/graph_search.py``). Random q-nets over Gaussian clusters of
        unequal norms are searched better with L2 (``tests/test_search.py``).

        ``method="exact"`` searches a flat index (O(N^2 d), exact); ``"hnsw"`` builds an
        HNSW index first (for corpora where N^2 is too much); ``"auto"`` takes exact up
        to 200k passages.
        """
        import faiss

        if metric not in METRICS:
            raise UserError(f"metric must be one of {METRICS}, got {metric!r}")
        if degree < 1:
            raise UserError(f"degree must be at least 1, got {degree}")
        vectors = np.ascontiguousarray(passages.detach().to("cpu", torch.float32).numpy())
        count, dim = vectors.shape
        if method == "auto":
            method = "exact" if count <= 200_000 else "hnsw"
        faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        if method == "exact":
            index = faiss.IndexFlat(dim, faiss_metric)
        elif method == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss_metric)
            index.hnsw.efSearch = max(64, 2 * degree)
        else:
            raise UserError(f"method must be auto, exact or hnsw, got {method!r}")
        index.add(vectors)
        wanted = min(degree + 1, count)  # each passage finds itself too
        rows = []
        for start in progress_bar(range(0, count, batch_size), desc="Building neighbour graph", disable=not show_progress):
            _, found = index.search(vectors[start : start + batch_size], wanted)
            rows.append(_drop_self(found, np.arange(start, start + found.shape[0]), degree))
        return cls(torch.from_numpy(np.concatenate(rows)), metric, method, passages_fingerprint(passages))

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        metadata = {"format": GRAPH_FORMAT, "metric": self.metric, "method": self.method,
                    "passages_sha256": self.passages_sha256}
        atomic.write_with(Path(path), lambda tmp: save_file({"neighbours": self.neighbours.contiguous()},
                                                            str(tmp), metadata=metadata))

    @classmethod
    def load(cls, path: Path, passages: torch.Tensor | None = None) -> NeighbourGraph:
        """Read a saved graph; with ``passages``, refuse a graph built on other vectors."""
        from safetensors import SafetensorError
        from safetensors.torch import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                neighbours = handle.get_tensor("neighbours")
        except (OSError, SafetensorError) as exc:
            raise UserError(f"{path}: not a readable neighbour graph ({exc})") from None
        if metadata.get("format") != GRAPH_FORMAT:
            raise UserError(f"{path}: not a hyperret neighbour graph (format {metadata.get('format')!r})")
        graph = cls(neighbours.long(), metadata["metric"], metadata["method"], metadata["passages_sha256"])
        if passages is not None and passages_fingerprint(passages) != graph.passages_sha256:
            raise UserError(f"{path}: this graph was built on other passage vectors; build it again for these.")
        return graph


def _drop_self(found: np.ndarray, own_ids: np.ndarray, degree: int) -> np.ndarray:
    """Remove each row's own id (wherever ties put it) and faiss's -1 fillers, keep the
    first ``degree`` others in order, and pad short rows with -1."""
    usable = (found != own_ids[:, None]) & (found >= 0)
    order = np.argsort(~usable, axis=1, kind="stable")[:, :degree]  # usable ids first, in rank order
    kept = np.where(np.take_along_axis(usable, order, axis=1), np.take_along_axis(found, order, axis=1), -1)
    out = np.full((found.shape[0], degree), -1, dtype=np.int64)
    out[:, : kept.shape[1]] = kept
    return out


class GraphSearch:
    """Approximate top-k over ``passages`` [N, d] with a :class:`NeighbourGraph`.

    ``entry_points``: how many passages (a seeded random sample) every search starts
    from, or the ids themselves. Each round expands the neighbours of the
    ``ncandidates`` best passages of the previous round's frontier.
    """

    def __init__(self, passages: torch.Tensor, graph: NeighbourGraph, *, entry_points: int | torch.Tensor = 1024,
                 ncandidates: int = 64, max_iter: int = 16, early_stop: bool = True, query_batch: int = 16,
                 dtype: str | torch.dtype = torch.float32, device: str | torch.device | None = None,
                 seed: int = 43, batched_scoring: bool | None = None, show_progress: bool = False) -> None:
        if graph.neighbours.shape[0] != passages.shape[0]:
            raise UserError(f"the graph has {graph.neighbours.shape[0]} passages, the corpus {passages.shape[0]}")
        if ncandidates < 1 or max_iter < 0:
            raise UserError("ncandidates must be at least 1 and max_iter at least 0")
        self.dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
        self.device = torch.device(device) if device else passages.device
        self.passages = passages.to(self.device, self.dtype)
        self.neighbours = graph.neighbours.to(self.device)
        self.entry_ids = self._entry_ids(entry_points, seed).to(self.device)
        self.ncandidates = ncandidates
        self.max_iter = max_iter
        self.early_stop = early_stop
        self.query_batch = query_batch
        self.batched_scoring = self.device.type != "cpu" if batched_scoring is None else batched_scoring
        self.show_progress = show_progress
        self.last_scored: torch.Tensor | None = None  # passages scored per query by the last search

    def _entry_ids(self, entry_points: int | torch.Tensor, seed: int) -> torch.Tensor:
        count = self.passages.shape[0]
        if isinstance(entry_points, torch.Tensor):
            ids = entry_points.long().flatten().cpu()
            if ids.numel() == 0 or ids.min() < 0 or ids.max() >= count:
                raise UserError(f"entry point ids must be non-empty and within 0..{count - 1}")
            return ids.unique()
        if entry_points < 1:
            raise UserError(f"entry_points must be at least 1, got {entry_points}")
        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(count, generator=generator)[: min(entry_points, count)]

    @torch.inference_mode()
    def search(self, qnets: QNets, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and passage indices [Q, k], best first. Where fewer than k passages
        were reached, the tail holds score -inf and id -1."""
        qnets = qnets.to(self.device, self.dtype)
        scores, ids, scored = [], [], []
        for start in progress_bar(range(0, len(qnets), self.query_batch), desc="Graph search", disable=not self.show_progress):
            batch_scores, batch_ids, batch_scored = self._search_batch(qnets.select(slice(start, start + self.query_batch)), k)
            scores.append(batch_scores)
            ids.append(batch_ids)
            scored.append(batch_scored)
        self.last_scored = torch.cat(scored)
        return torch.cat(scores), torch.cat(ids)

    def _search_batch(self, qnets: QNets, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        queries, count = len(qnets), self.passages.shape[0]
        seen = torch.zeros(queries, count, dtype=torch.bool, device=self.device)
        seen[:, self.entry_ids] = True
        frontier = self.entry_ids.expand(queries, -1)
        frontier_scores = qnets.apply_shared(self.passages[self.entry_ids]).float()
        best = TopK(queries, k, self.device)
        best.merge(frontier_scores, frontier)
        scored = torch.full((queries,), frontier.shape[1], device=self.device)
        for _ in range(self.max_iter):
            frontier, valid = self._expand(frontier, frontier_scores, seen)
            if frontier.shape[1] == 0:
                break
            frontier_scores = self._score_frontier(qnets, frontier, valid)
            scored += valid.sum(dim=1)
            entered = best.merge(frontier_scores, frontier)
            if self.early_stop:
                frontier_scores = frontier_scores.masked_fill((entered == 0).unsqueeze(1), float("-inf"))
                if not bool((entered > 0).any()):
                    break
        return best.scores, best.ids, scored

    def _score_frontier(self, qnets: QNets, frontier: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Each query's q-net on its own frontier [Q, F]; -inf where ``valid`` is False.
        Valid entries come first in each row (see :meth:`_expand`)."""
        if self.batched_scoring:
            return qnets.apply(self.passages[frontier]).float().masked_fill(~valid, float("-inf"))
        scores = torch.full(frontier.shape, float("-inf"), device=self.device)
        for row, width in enumerate(valid.sum(dim=1).tolist()):
            if width:
                items = self.passages[frontier[row, :width]].unsqueeze(0)  # [1, width, d]
                scores[row, :width] = qnets.select(slice(row, row + 1)).apply(items)[0].float()
        return scores

    def _expand(self, frontier: torch.Tensor, frontier_scores: torch.Tensor,
                seen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The unseen neighbours of each query's ``ncandidates`` best frontier passages,
        as ids [Q, F] (valid ones first) and a validity mask; marks them seen."""
        take = min(self.ncandidates, frontier.shape[1])
        top_scores, top = frontier_scores.topk(take, dim=1)
        sources = frontier.gather(1, top)  # [Q, take]
        candidates = self.neighbours[sources].flatten(1)  # [Q, take * degree]
        usable = (top_scores > float("-inf")).repeat_interleave(self.neighbours.shape[1], dim=1) & (candidates >= 0)
        candidates = candidates.clamp(min=0)
        usable &= ~seen.gather(1, candidates)
        # Several sources can share a neighbour: keep its first occurrence only.
        sentinel = seen.shape[1]
        ordered, order = candidates.masked_fill(~usable, sentinel).sort(dim=1, stable=True)
        repeated = torch.zeros_like(usable)
        repeated[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        valid = (ordered != sentinel) & ~repeated
        ids = ordered.clamp(max=sentinel - 1)
        rows = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1).expand_as(ids)
        seen[rows[valid], ids[valid]] = True
        width = int(valid.sum(dim=1).max())
        packed = (~valid).to(torch.uint8).argsort(dim=1, stable=True)[:, :width]
        return ids.gather(1, packed), valid.gather(1, packed)
