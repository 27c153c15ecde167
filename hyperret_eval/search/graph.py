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
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hyperret_eval.core import atomic
from hyperret_eval.core.bars import progress_bar
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.estimate import CostEstimate
from hyperret_eval.models.hypencoder.qnet import QNets
from hyperret_eval.search.exhaustive import DTYPES, TopK
from hyperret_eval.search.passage_cache import read_only_tensor

log = logging.getLogger(__name__)

METRICS = ("l2", "ip")
GRAPH_FORMAT = "hyperret-neighbour-graph/1"
MEMMAP_GRAPH_FORMAT = "hyperret-neighbour-graph-memmap/1"
GRAPH_META = "meta.json"
GRAPH_ARRAY = "neighbours.npy"
CELL_SIZE = 2000  # passages per inverted-file cell of the out-of-core graph build


def passages_fingerprint(passages: torch.Tensor, chunk_size: int = 65536) -> str:
    """sha256 of the vectors' float32 bytes and shape: which passages a graph belongs to.
    Read ``chunk_size`` rows at a time, so a memory-mapped store larger than memory is
    hashed in the memory of one chunk."""
    digest = hashlib.sha256(json.dumps(list(passages.shape)).encode())
    for start in range(0, passages.shape[0], chunk_size):
        rows = passages[start : start + chunk_size].detach().to("cpu", torch.float32)
        digest.update(memoryview(np.ascontiguousarray(rows.numpy())).cast("B"))
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

    @classmethod
    def build_out_of_core(cls, passages: torch.Tensor, folder: Path, degree: int = 100, metric: str = "l2", *,
                          lists: int | None = None, probes: int = 2, train_size: int | None = None,
                          batch_size: int = 16384, seed: int = 0, show_progress: bool = False) -> NeighbourGraph:
        """The ``degree``-nearest-neighbour graph of a corpus larger than memory (a
        memory-mapped passage store), written to ``folder`` as a memory-mapped int32
        array and returned over it.

        faiss indexes the passages in an inverted file (``lists`` k-means cells, by
        default one per 2,000 passages, trained on a seeded sample of ``train_size``
        passages, by default 8 a cell) with 4-bit product-quantised codes
        (faiss's fast-scan layout, d/8 bytes a passage: 420 MB for 8.8M x 768), added and
        then searched ``batch_size`` passages at a time, each passage's neighbours taken
        from its ``probes`` nearest cells; only the codes and one batch of float32 rows
        are ever in memory. The neighbours are approximate: the codes rank the passages
        of a cell roughly, which is what a graph search needs (a high-scoring passage's
        neighbourhood), not an exact k-NN list. The folder is written beside itself and
        renamed into place when complete; ``meta.json`` records how it was built.
        """
        import faiss

        if metric not in METRICS:
            raise UserError(f"metric must be one of {METRICS}, got {metric!r}")
        if degree < 1 or probes < 1:
            raise UserError(f"degree and probes must be at least 1, got {degree} and {probes}")
        folder = Path(folder)
        count, dim = passages.shape
        lists = lists or max(1, round(count / CELL_SIZE))
        # Past a thousand cells, finding a passage's nearest cells by comparing it with
        # every centroid costs more than the rest; an HNSW graph of the centroids finds them.
        cells = f"IVF{lists}_HNSW32" if lists > 1024 else f"IVF{lists}"
        factory = f"{cells},{_fast_scan_codes(dim)}"
        index = faiss.index_factory(dim, factory, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
        generator = torch.Generator().manual_seed(seed)
        sample = torch.randperm(count, generator=generator)[: min(count, train_size or max(8 * lists, 32768))]
        index.train(_float32_rows(passages, sample.sort().values))
        starts = range(0, count, batch_size)
        for start in progress_bar(starts, desc="Indexing passages for the graph", disable=not show_progress):
            index.add(_float32_rows(passages, slice(start, start + batch_size)))
        wanted = min(degree + 1, count)  # each passage finds itself too
        building = folder.with_name(f"{folder.name}.building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        neighbours = np.lib.format.open_memmap(building / GRAPH_ARRAY, mode="w+", dtype=np.int32, shape=(count, degree))
        estimate = CostEstimate(f"finding {degree} neighbours for each of {count:,} passages", count, "passages",
                                log)
        for start in progress_bar(starts, desc="Searching each passage's neighbours", disable=not show_progress):
            found = _search_filling_rows(index, _float32_rows(passages, slice(start, start + batch_size)), wanted,
                                         probes, lists)
            neighbours[start : start + found.shape[0]] = _drop_self(found, np.arange(start, start + found.shape[0]),
                                                                   degree)
            estimate.update(found.shape[0])
        neighbours.flush()
        del neighbours, index
        meta = {"format": MEMMAP_GRAPH_FORMAT, "metric": metric, "method": f"faiss {factory}, nprobe {probes}",
                "passages": count, "degree": degree, "passages_sha256": passages_fingerprint(passages)}
        atomic.write_json(building / GRAPH_META, meta)
        shutil.rmtree(folder, ignore_errors=True)
        building.rename(folder)
        return cls.open(folder)

    @classmethod
    def open(cls, folder: Path, passages: torch.Tensor | None = None) -> NeighbourGraph:
        """A graph written by :meth:`build_out_of_core`, its neighbours a read-only memmap;
        with ``passages``, refuse a graph built on other vectors."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / GRAPH_META).read_text(encoding="utf-8"))
            neighbours = read_only_tensor(folder / GRAPH_ARRAY)
        except (OSError, ValueError) as exc:
            raise UserError(f"{folder}: not a readable neighbour graph ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != MEMMAP_GRAPH_FORMAT:
            raise UserError(f"{folder}: not a hyperret memory-mapped neighbour graph")
        if neighbours.dim() != 2 or neighbours.dtype != torch.int32 or neighbours.shape[0] != meta.get("passages"):
            raise UserError(f"{folder}/{GRAPH_ARRAY}: shape {tuple(neighbours.shape)} {neighbours.dtype} does not match "
                            f"meta.json's {meta.get('passages')} passages")
        graph = cls(neighbours, meta["metric"], meta["method"], meta["passages_sha256"])
        if passages is not None and passages_fingerprint(passages) != graph.passages_sha256:
            raise UserError(f"{folder}: this graph was built on other passage vectors; build it again for these.")
        return graph

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


def _fast_scan_codes(dim: int) -> str:
    """faiss's 4-bit fast-scan product quantiser with about d/8 sub-vectors, and at least
    16 for small d (the largest divisor of d not above that)."""
    parts = next(m for m in range(max(dim // 8, min(dim, 16)), 0, -1) if dim % m == 0)
    return f"PQ{parts}x4fs"


def _search_filling_rows(index, vectors: np.ndarray, wanted: int, probes: int, lists: int) -> np.ndarray:
    """``wanted`` neighbours of each row from its ``probes`` nearest cells; rows whose cells
    hold fewer passages than that (faiss fills them with -1) are searched again in twice as
    many cells, until full or every cell is searched."""
    index.nprobe = min(probes, lists)
    _, found = index.search(vectors, wanted)
    short = (found < 0).any(axis=1)
    while short.any() and index.nprobe < lists:
        index.nprobe = min(lists, 2 * index.nprobe)
        _, found[short] = index.search(vectors[short], wanted)
        short = (found < 0).any(axis=1)
    return found


def _float32_rows(passages: torch.Tensor, rows: slice | torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(passages[rows].detach().to("cpu", torch.float32).numpy())


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
        # Kept as stored (a memmap stays a memmap); the rows a search reaches are gathered
        # and converted to the compute dtype as they are scored.
        self.passages = passages.to(self.device)
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
        frontier_scores = qnets.apply_shared(self._rows(self.entry_ids)).float()
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

    def _rows(self, ids: torch.Tensor) -> torch.Tensor:
        """The vectors of passages ``ids`` (any shape), in the compute dtype."""
        return self.passages[ids].to(self.dtype)

    def _score_frontier(self, qnets: QNets, frontier: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Each query's q-net on its own frontier [Q, F]; -inf where ``valid`` is False.
        Valid entries come first in each row (see :meth:`_expand`)."""
        if self.batched_scoring:
            return qnets.apply(self._rows(frontier)).float().masked_fill(~valid, float("-inf"))
        scores = torch.full(frontier.shape, float("-inf"), device=self.device)
        for row, width in enumerate(valid.sum(dim=1).tolist()):
            if width:
                items = self._rows(frontier[row, :width]).unsqueeze(0)  # [1, width, d]
                scores[row, :width] = qnets.select(slice(row, row + 1)).apply(items)[0].float()
        return scores

    def _expand(self, frontier: torch.Tensor, frontier_scores: torch.Tensor,
                seen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The unseen neighbours of each query's ``ncandidates`` best frontier passages,
        as ids [Q, F] (valid ones first) and a validity mask; marks them seen."""
        take = min(self.ncandidates, frontier.shape[1])
        top_scores, top = frontier_scores.topk(take, dim=1)
        sources = frontier.gather(1, top)  # [Q, take]
        candidates = self.neighbours[sources].flatten(1).long()  # [Q, take * degree]
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
