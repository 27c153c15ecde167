"""Hypencoder as an mteb ``SearchProtocol`` model: ``index`` encodes the corpus into
passage vectors, ``search`` turns queries into q-nets and runs the search engine
(exhaustive, or the graph search when ``settings`` says so), or, when the task gives
candidate lists (``top_ranked``), scores each query's candidates and no other passage.
mteb then scores the run with its own retrieval evaluator.

Passage vectors go through the passage cache (``search/passage_cache.py``, under
``cache_dir``, default ``<cache root>/passages``) unless ``use_cache`` is off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperret_eval.data.beir import document_text
from hyperret_eval.integrations.mteb_meta import KeepsCheckpointRevision
from hyperret_eval.models.hypencoder import Hypencoder
from hyperret_eval.search import ExhaustiveSearch, GraphSearch
from hyperret_eval.search.candidates import rerank
from hyperret_eval.search.exhaustive import DTYPES
from hyperret_eval.search.passage_cache import corpus_vectors
from hyperret_eval.search.settings import SearchSettings, rankings


class HypencoderMTEBSearch(KeepsCheckpointRevision):
    def __init__(self, model: Hypencoder, mteb_model_meta, batch_size: int = 32,
                 settings: SearchSettings | None = None, use_cache: bool = True, cache_dir: Path | None = None) -> None:
        self.model = model
        self.mteb_model_meta = mteb_model_meta
        self.batch_size = batch_size
        self.settings = settings or SearchSettings()
        self.use_cache = use_cache
        self.cache_dir = cache_dir
        self.query_max_length: int | None = None  # the task's query length (catalogue), else the model's
        self._doc_ids: list[str] = []
        self._passages = None
        self._engine: ExhaustiveSearch | GraphSearch | None = None

    def index(self, corpus, *, task_metadata, hf_split: str, hf_subset: str, encode_kwargs: dict,
              num_proc: int | None = None, **kwargs: Any) -> None:
        batch_size = encode_kwargs.get("batch_size", self.batch_size)
        show_progress = encode_kwargs.get("show_progress_bar", True)  # as mteb's encoders are told
        titles = corpus["title"] if "title" in corpus.column_names else [""] * len(corpus)
        texts = [document_text({"title": t, "text": x}) for t, x in zip(titles, corpus["text"])]
        self._doc_ids = [str(i) for i in corpus["id"]]
        self._passages = corpus_vectors(self.model, self._doc_ids, texts, batch_size, use_cache=self.use_cache,
                                        cache_dir=self.cache_dir, show_progress=show_progress)
        self._engine = self.settings.engine(self._passages, show_progress)

    def search(self, queries, *, task_metadata, hf_split: str, hf_subset: str, top_k: int, encode_kwargs: dict,
               top_ranked=None, num_proc: int | None = None, **kwargs: Any) -> dict[str, dict[str, float]]:
        if self._engine is None:
            raise RuntimeError("index() must be called before search()")
        batch_size = encode_kwargs.get("batch_size", self.batch_size)
        qnets = self.model.encode_queries([str(t) for t in queries["text"]], batch_size,
                                          show_progress=encode_kwargs.get("show_progress_bar", True),
                                          max_length=self.query_max_length)
        query_ids = [str(q) for q in queries["id"]]
        if top_ranked is not None:
            qnets = qnets.to(qnets.weights[0].device, DTYPES[self.settings.dtype])

            def score(row: int, positions) -> Any:
                passages = self._passages[positions].to(qnets.weights[0].device)
                return qnets.select(slice(row, row + 1)).score(passages)[0]

            return rerank(score, query_ids, self._doc_ids, top_ranked, top_k)
        scores, ids = self._engine.search(qnets, top_k)
        return rankings(query_ids, self._doc_ids, scores, ids)
