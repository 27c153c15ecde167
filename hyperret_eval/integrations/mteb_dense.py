"""A sentence-transformers model as an mteb ``SearchProtocol`` model whose corpus vectors
are cached: ``index`` encodes the corpus through the passage cache
(``search/passage_cache.py``), so a second run of the same model on the same corpus
encodes only the queries, and ``search`` scores the cached memmap a chunk at a time
(``search/dense.py``), so a corpus larger than memory is searched too; a task's candidate
lists (``top_ranked``) are scored instead of the corpus when it gives them.

Passages and queries are encoded exactly as mteb's own ``SearchEncoderWrapper`` encodes
them (mteb's dataloaders: title and text joined, the model's prompts), and scored by the
model's own similarity function, so scores equal mteb's.

Why not mteb's ``CachedEmbeddingWrapper``: it keys vectors by text alone inside a folder
the caller names (the model's identity is the caller's to get right), writes its index in
place (a run killed mid-write leaves a cache that fails to load), lets two processes fill
the same files unguarded (torchrun ranks would), and hands back every vector as an
in-memory array, which a corpus larger than memory cannot have. The passage cache already
keys, locks, resumes and memory-maps; ``benchmarks/embedding_cache.py`` measures both.

The cache key: the model (every module's config and tensor, its tokenizer, prompts and
weight dtype), the corpus (ids, titles and texts, in order), its max length, pooling, the
document prompt mteb applies for the task, any encode settings that change vectors, and
the storage dtype. A mismatched entry is never served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from mteb.models.abs_encoder import get_prompt
from mteb.types import PromptType

from hyperret_eval.core.library_internals import mteb_dataloader
from hyperret_eval.models.fingerprint import sentence_transformer_fingerprint
from hyperret_eval.search.candidates import rerank
from hyperret_eval.search.dense import CHUNK, DenseSearch
from hyperret_eval.search.passage_cache import CHUNK_SIZE, cached_vectors, corpus_fingerprint
from hyperret_eval.search.settings import rankings

FORMAT = "hyperret-embedding-cache/1"
# Encode settings that do not change a vector: how many at a time, and whether a bar shows.
NEUTRAL_ENCODE_KWARGS = {"batch_size", "show_progress_bar"}
BATCHES_PER_CALL = 8  # passages per call to the encoder, in batches: the progress bar's step


def can_cache(encoder) -> bool:
    """Whether ``encoder`` (an mteb encoder) wraps a sentence-transformers model, whose
    contents the cache key can name."""
    from sentence_transformers import SentenceTransformer

    return isinstance(getattr(encoder, "model", None), SentenceTransformer)


class CachedDenseSearch:
    def __init__(self, encoder, *, cache_dir: Path | None = None, dtype: str = "float32",
                 chunk_size: int = CHUNK, cache_chunk_size: int = CHUNK_SIZE) -> None:
        """``encoder``: mteb's wrapper of a sentence-transformers model (``can_cache``).
        ``cache_dir``: default ``<cache root>/passages``; ``chunk_size``: passages scored
        at a time; ``cache_chunk_size``: passages encoded between two progress records."""
        if not can_cache(encoder):
            raise TypeError(f"{type(encoder).__name__} does not wrap a sentence-transformers model")
        self.encoder = encoder
        self.mteb_model_meta = encoder.mteb_model_meta
        self.cache_dir = cache_dir
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.cache_chunk_size = cache_chunk_size
        self._doc_ids: list[str] = []
        self._engine: DenseSearch | None = None
        self._fingerprint: str | None = None  # of the model, hashed once: its weights do not change here

    def index(self, corpus, *, task_metadata, hf_split: str, hf_subset: str, encode_kwargs: dict,
              num_proc: int | None = None, **kwargs: Any) -> None:
        self._doc_ids = [str(i) for i in corpus["id"]]
        batch_size = int(encode_kwargs.get("batch_size", 32))
        quiet = {**encode_kwargs, "show_progress_bar": False}  # the cache shows one bar for the corpus

        def encode(start: int, stop: int) -> torch.Tensor:
            loader = mteb_dataloader(corpus.select(range(start, stop)), task_metadata=task_metadata,
                                     prompt_type=PromptType.document, batch_size=batch_size, num_proc=num_proc)
            return torch.as_tensor(self.encoder.encode(loader, task_metadata=task_metadata, hf_split=hf_split,
                                                       hf_subset=hf_subset, prompt_type=PromptType.document, **quiet))

        vectors = cached_vectors(self.cache_key(corpus, task_metadata, encode_kwargs), len(corpus), encode,
                                 step=batch_size * BATCHES_PER_CALL, cache_dir=self.cache_dir,
                                 chunk_size=self.cache_chunk_size,
                                 show_progress=encode_kwargs.get("show_progress_bar", True))
        self._engine = DenseSearch(vectors, self.encoder.similarity, chunk_size=self.chunk_size,
                                   device=self.encoder.model.device,  # a GPU model scores on its GPU
                                   show_progress=encode_kwargs.get("show_progress_bar", True))

    def search(self, queries, *, task_metadata, hf_split: str, hf_subset: str, top_k: int, encode_kwargs: dict,
               top_ranked=None, num_proc: int | None = None, **kwargs: Any) -> dict[str, dict[str, float]]:
        if self._engine is None:
            raise RuntimeError("index() must be called before search()")
        loader = mteb_dataloader(queries, task_metadata=task_metadata, prompt_type=PromptType.query,
                                 num_proc=num_proc, **encode_kwargs)
        vectors = self.encoder.encode(loader, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset,
                                      prompt_type=PromptType.query, **encode_kwargs)
        vectors = torch.as_tensor(vectors)
        query_ids = [str(q) for q in queries["id"]]
        if top_ranked is not None:
            return rerank(lambda row, positions: self._engine.score_some(vectors[row : row + 1], positions)[0],
                          query_ids, self._doc_ids, top_ranked, top_k)
        scores, ids = self._engine.search(vectors, top_k)
        return rankings(query_ids, self._doc_ids, scores, ids)

    def cache_key(self, corpus, task_metadata, encode_kwargs: dict) -> dict:
        model = self.encoder.model
        if self._fingerprint is None:
            self._fingerprint = sentence_transformer_fingerprint(model)
        titles = corpus["title"] if "title" in corpus.column_names else None
        pooling = [module.get_config_dict() for module in model if type(module).__name__ == "Pooling"]
        return {"format": FORMAT, "encoder": self._fingerprint,
                "corpus": corpus_fingerprint([str(i) for i in corpus["id"]], corpus["text"], titles),
                "max_length": model.max_seq_length, "pooling": pooling,
                "normalized": any(type(module).__name__ == "Normalize" for module in model),
                "document_prompt": get_prompt(getattr(self.encoder, "model_prompts", None), task_metadata,
                                              PromptType.document),
                "encode_kwargs": {k: v for k, v in sorted(encode_kwargs.items()) if k not in NEUTRAL_ENCODE_KWARGS},
                "dtype": self.dtype}
