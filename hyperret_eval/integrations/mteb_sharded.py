"""Any mteb search model, run by every ``torchrun`` rank on its own slice of the corpus.

Each rank indexes its contiguous share of the corpus with the model it wraps (our cached
dense search for sentence-transformers models, which caches each rank's share as an entry
of its own; mteb's ``SearchEncoderWrapper`` for other encoders; our Hypencoder search
model), answers the queries from that share, and the per-query top-k lists are merged
across ranks, so every rank returns the same corpus-wide ranking that one process would.
mteb then scores it with its own evaluator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from mteb.models.search_wrappers import SearchEncoderWrapper

from hyperret_eval.core.world import World
from hyperret_eval.integrations.mteb_dense import CachedDenseSearch, can_cache
from hyperret_eval.integrations.mteb_search import HypencoderMTEBSearch
from hyperret_eval.search.settings import rankings
from hyperret_eval.search.sharded import merge_ranked


class ShardedMTEBSearch:
    def __init__(self, inner, world: World) -> None:
        self.inner = inner
        self.world = world
        self.mteb_model_meta = inner.mteb_model_meta
        self._doc_ids: list[str] = []
        self._position: dict[str, int] = {}
        self._share_ids: set[str] = set()
        self._has_share = False

    def index(self, corpus, *, encode_kwargs: dict, **kwargs: Any) -> None:
        self._doc_ids = [str(i) for i in corpus["id"]]
        self._position = {doc_id: i for i, doc_id in enumerate(self._doc_ids)}
        share = self.world.shard(len(corpus), align=int(encode_kwargs.get("batch_size", 32)))
        self._has_share = len(share) > 0  # a small corpus over many ranks leaves some without one
        self._share_ids = {self._doc_ids[i] for i in share}
        if self._has_share:
            self.inner.index(corpus.select(share), encode_kwargs=encode_kwargs, **kwargs)

    def search(self, queries, *, top_k: int, top_ranked=None, **kwargs: Any) -> dict[str, dict[str, float]]:
        if top_ranked is not None:  # each rank reranks the candidates in its own share
            top_ranked = {query_id: [doc_id for doc_id in candidates if str(doc_id) in self._share_ids]
                          for query_id, candidates in top_ranked.items()}
        local = self.inner.search(queries, top_k=top_k, top_ranked=top_ranked, **kwargs) if self._has_share else {}
        query_ids = [str(q) for q in queries["id"]]
        # float64 holds the float32 scores exactly, so the merge changes no score.
        scores = torch.full((len(query_ids), top_k), float("-inf"), dtype=torch.float64)
        ids = torch.full((len(query_ids), top_k), -1, dtype=torch.long)
        for row, query_id in enumerate(query_ids):
            ranked = sorted(local.get(query_id, {}).items(), key=lambda item: -item[1])[:top_k]
            for column, (doc_id, score) in enumerate(ranked):
                scores[row, column] = score
                ids[row, column] = self._position[doc_id]
        scores, ids = merge_ranked(self.world, scores, ids, top_k)
        return rankings(query_ids, self._doc_ids, scores, ids)


def search_model_for(model, world: World, cache_dir: Path | None = None, query_max_length: int | None = None):
    """The model mteb searches a retrieval task with: a Hypencoder as it is (reading at most
    ``query_max_length`` tokens of a query, the task's setting, when given), a
    sentence-transformers model as a :class:`CachedDenseSearch` (its corpus vectors cached
    under ``cache_dir`` and searched from the memmap), any other encoder in mteb's own
    ``SearchEncoderWrapper``; under torchrun, each rank searches its share of the corpus
    with it."""
    if isinstance(model, HypencoderMTEBSearch):
        model.query_max_length = query_max_length
        search = model
    elif can_cache(model):
        search = CachedDenseSearch(model, cache_dir=cache_dir)
    else:
        search = SearchEncoderWrapper(model)
    return ShardedMTEBSearch(search, world) if world.distributed else search
