"""BEIR's search contract for Hypencoder: ``EvaluateRetrieval(HypencoderSearch(model))``.

BEIR calls ``search(corpus, queries, top_k, score_function)`` and expects
``{query_id: {doc_id: score}}``. Relevance comes from each query's q-net, so BEIR's
``score_function`` (cosine or dot) does not apply and is ignored.
"""

from __future__ import annotations

from hyperret_eval.data.beir import document_text
from hyperret_eval.models.hypencoder import Hypencoder
from hyperret_eval.search import ExhaustiveSearch


class HypencoderSearch:
    def __init__(self, model: Hypencoder, batch_size: int = 32, chunk_size: int = 8192, query_batch: int = 16,
                 dtype: str = "float32", show_progress: bool = True) -> None:
        self.model = model
        self.batch_size = batch_size
        self.engine_options = {"chunk_size": chunk_size, "query_batch": query_batch, "dtype": dtype,
                               "show_progress": show_progress}

    def search(self, corpus: dict[str, dict[str, str]], queries: dict[str, str], top_k: int,
               score_function: str | None = None, **kwargs) -> dict[str, dict[str, float]]:
        doc_ids = list(corpus)
        query_ids = list(queries)
        passages = self.model.encode_passages([document_text(corpus[d]) for d in doc_ids], self.batch_size)
        qnets = self.model.encode_queries([queries[q] for q in query_ids], self.batch_size)
        scores, ids = ExhaustiveSearch(passages, **self.engine_options).search(qnets, top_k)
        return {
            qid: {doc_ids[i]: float(s) for s, i in zip(row_scores.tolist(), row_ids.tolist())}
            for qid, row_scores, row_ids in zip(query_ids, scores, ids)
        }
