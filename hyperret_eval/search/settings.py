"""How a Hypencoder run searches: the engine and its knobs, in one object the adapters
(BEIR, mteb) and the command line share, and the conversion of a top-k to the
``{query_id: {doc_id: score}}`` runs both frameworks expect."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import torch

from hyperret_eval.core.errors import UserError
from hyperret_eval.search.exhaustive import ExhaustiveSearch
from hyperret_eval.search.graph import METRICS, GraphSearch, NeighbourGraph, passages_fingerprint

METHODS = ("exhaustive", "graph")
# Above this many passages a graph is built out of core: the in-memory build holds the
# corpus in float32 (2M x 768 is 6 GB) and its HNSW index beside it.
OUT_OF_CORE_PASSAGES = 2_000_000


@dataclass(frozen=True)
class SearchSettings:
    method: str = "exhaustive"
    dtype: str = "float32"
    query_batch: int = 16
    chunk_size: int | None = None  # exhaustive: passages per chunk (None: by device)
    degree: int = 32  # graph: neighbours per passage
    metric: str = "ip"  # graph: what "near" means; see NeighbourGraph.build
    entry_points: int = 1024
    ncandidates: int = 64
    max_iter: int = 16
    graph_dir: Path | None = None  # graphs are saved here by passage fingerprint and reused

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"search method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.metric not in METRICS:
            raise UserError(f"graph metric must be one of {', '.join(METRICS)}, got {self.metric!r}")

    @classmethod
    def from_dict(cls, settings: dict) -> SearchSettings:
        """Settings from plain keyword values; an unknown name is an error that lists the known."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise UserError(f"unknown search setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(settings)
        if values.get("graph_dir") is not None:
            values["graph_dir"] = Path(values["graph_dir"])
        return cls(**values)

    def engine(self, passages: torch.Tensor, show_progress: bool = True) -> ExhaustiveSearch | GraphSearch:
        if self.method == "exhaustive":
            return ExhaustiveSearch(passages, chunk_size=self.chunk_size, query_batch=self.query_batch,
                                    dtype=self.dtype, show_progress=show_progress)
        return GraphSearch(passages, self.graph(passages, show_progress), entry_points=self.entry_points,
                           ncandidates=self.ncandidates, max_iter=self.max_iter, query_batch=self.query_batch,
                           dtype=self.dtype, show_progress=show_progress)

    def graph(self, passages: torch.Tensor, show_progress: bool) -> NeighbourGraph:
        """The saved graph for these passages and degree, else a new one, saved. Corpora
        over :data:`OUT_OF_CORE_PASSAGES` get a graph built out of core and kept as a
        memory-mapped folder (:meth:`NeighbourGraph.build_out_of_core`)."""
        from hyperret_eval.core.paths import default_cache_root

        folder = self.graph_dir or default_cache_root() / "graphs"
        fingerprint = passages_fingerprint(passages)
        name = f"{fingerprint[:16]}-{self.metric}-deg{self.degree}"
        if passages.shape[0] > OUT_OF_CORE_PASSAGES:
            path = folder / name
            if path.is_dir():
                return NeighbourGraph.open(path, passages)
            return NeighbourGraph.build_out_of_core(passages, path, degree=self.degree, metric=self.metric,
                                                    show_progress=show_progress)
        path = folder / f"{name}.safetensors"
        if path.is_file():
            graph = NeighbourGraph.load(path)
            if graph.passages_sha256 != fingerprint:
                raise UserError(f"{path}: this graph was built on other passage vectors; delete it to rebuild.")
            return graph
        graph = NeighbourGraph.build(passages, degree=self.degree, metric=self.metric, show_progress=show_progress)
        graph.save(path)
        return graph


def rankings(query_ids: list[str], doc_ids: list[str], scores: torch.Tensor,
             ids: torch.Tensor) -> dict[str, dict[str, float]]:
    """Top-k tensors to ``{query_id: {doc_id: score}}``, skipping the -1 ids an
    approximate search leaves where it reached fewer than k passages."""
    return {
        str(qid): {doc_ids[i]: float(s) for s, i in zip(row_scores.tolist(), row_ids.tolist()) if i >= 0}
        for qid, row_scores, row_ids in zip(query_ids, scores, ids)
    }
