"""BEIR's search contract for Hypencoder: ``EvaluateRetrieval(HypencoderSearch(model))``.

BEIR calls ``search(corpus, queries, top_k, score_function)`` and expects
``{query_id: {doc_id: score}}``. Relevance comes from each query's q-net, so BEIR's
``score_function`` (cosine or dot) does not apply and is ignored.

Passage vectors go through the passage cache (``search/passage_cache.py``) unless
``use_cache`` is off, so searching a corpus again with the same passage encoder encodes
nothing.
"""

from __future__ import annotations

from pathlib import Path

from hyperret_eval.data.beir import document_text
from hyperret_eval.models.hypencoder import Hypencoder
from hyperret_eval.search.passage_cache import corpus_vectors
from hyperret_eval.search.settings import SearchSettings, rankings


class HypencoderSearch:
    """``settings`` picks the engine: exhaustive (default) or the approximate graph search.
    ``cache_dir`` (default ``<cache root>/passages``) holds the cached passage vectors."""

    def __init__(self, model: Hypencoder, batch_size: int = 32, settings: SearchSettings | None = None,
                 show_progress: bool = True, use_cache: bool = True, cache_dir: Path | None = None) -> None:
        self.model = model
        self.batch_size = batch_size
        self.settings = settings or SearchSettings()
        self.show_progress = show_progress
        self.use_cache = use_cache
        self.cache_dir = cache_dir

    def search(self, corpus: dict[str, dict[str, str]], queries: dict[str, str], top_k: int,
               score_function: str | None = None, **kwargs) -> dict[str, dict[str, float]]:
        doc_ids = list(corpus)
        query_ids = list(queries)
        passages = corpus_vectors(self.model, doc_ids, [document_text(corpus[d]) for d in doc_ids], self.batch_size,
                                  use_cache=self.use_cache, cache_dir=self.cache_dir, show_progress=self.show_progress)
        qnets = self.model.encode_queries([queries[q] for q in query_ids], self.batch_size, self.show_progress)
        scores, ids = self.settings.engine(passages, self.show_progress).search(qnets, top_k)
        return rankings(query_ids, doc_ids, scores, ids)
