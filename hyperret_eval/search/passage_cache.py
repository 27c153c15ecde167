"""Passage vectors cached on disk: a corpus is encoded once per passage encoder (a
Hypencoder's, or any embedding model's: ``integrations/mteb_dense.py``), and a run killed
while encoding resumes where it stopped.

An entry is named by a hash of its key::

    <cache>/passages/<name>/meta.json     the full key, N, d, dtype, chunk size, chunks done, complete
    <cache>/passages/<name>/vectors.npy   [N, d], filled a chunk at a time through a memmap
    <cache>/passages/<name>.lock          held while a process checks or fills the entry

The key is what the vectors depend on: the passage encoder (for a Hypencoder the
passage backbone's weights, or the query backbone's where the two are shared, its config
and tokenizer; not the hypernetwork, so Hypencoders that differ only in their q-nets
share an entry), its pooling and max length, the corpus (ids and texts, in order) and the
storage dtype. :func:`cached_vectors` takes any such key; :func:`passage_cache_key` is
the Hypencoder's.
An entry is served only when the key stored in its meta.json equals the requested key;
anything else in its folder is discarded and the corpus encoded anew.

After each chunk the vectors are flushed to disk before meta.json (rewritten atomically)
counts the chunk, so the count never runs ahead of the data, and a rerun continues at
the first chunk not counted.

:func:`passage_store` is the same layout in a folder the caller names, for corpora whose
vectors are too costly to throw away (MS MARCO's 8.8M passages): an entry stored for
another key is refused there instead of being encoded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from hyperret_eval.core import atomic
from hyperret_eval.core.bars import progress_bar
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.estimate import CostEstimate
from hyperret_eval.core.locks import exclusive_lock
from hyperret_eval.core.paths import default_cache_root
from hyperret_eval.models.fingerprint import backbone_settings, encoder_fingerprint
from hyperret_eval.models.hypencoder import Hypencoder

FORMAT = "hyperret-passage-cache/1"
CHUNK_SIZE = 4096  # passages encoded between two progress records
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
META = "meta.json"
VECTORS = "vectors.npy"

log = logging.getLogger(__name__)


def passage_cache_root() -> Path:
    return default_cache_root() / "passages"


def cached_passage_vectors(model: Hypencoder, doc_ids: Sequence[str], texts: Sequence[str], batch_size: int = 32,
                           cache_dir: Path | None = None, dtype: str = "float32", chunk_size: int = CHUNK_SIZE,
                           show_progress: bool = True) -> torch.Tensor:
    """``model.encode_passages(texts)`` as ``dtype`` [N, d], through the cache
    (:func:`cached_vectors`)."""
    if len(doc_ids) != len(texts):
        raise ValueError(f"{len(doc_ids)} document ids for {len(texts)} texts")
    _check_dtype(dtype)
    return cached_vectors(passage_cache_key(model, doc_ids, texts, dtype), len(texts),
                          lambda start, stop: model.encode_passages(list(texts[start:stop]), batch_size),
                          step=batch_size, cache_dir=cache_dir, chunk_size=chunk_size, show_progress=show_progress)


def cached_vectors(key: dict, count: int, encode: Callable[[int, int], torch.Tensor], *, step: int,
                   cache_dir: Path | None = None, chunk_size: int = CHUNK_SIZE,
                   show_progress: bool = True) -> torch.Tensor:
    """The [count, d] vectors ``encode(start, stop)`` gives for passages ``start:stop``,
    stored as ``key["dtype"]``: served from the cache when an entry for exactly ``key``
    is complete, else encoded into it ``chunk_size`` passages at a time (``step`` per
    call to ``encode``, so the progress bar moves), continuing where an interrupted run
    stopped (in its chunk size).

    The tensor lies over a read-only memmap of the cache file, not a copy in memory: the
    OS pages it in as it is read and may drop those pages again, so a corpus larger than
    memory can be searched. ``cache_dir`` defaults to ``<cache root>/passages``.
    """
    folder = Path(cache_dir or passage_cache_root()) / entry_name(key)
    return _filled(folder, key, count, encode, step=step, chunk_size=chunk_size, show_progress=show_progress,
                   other_key="discard")


def passage_store(folder: Path, key: dict, count: int, encode: Callable[[int, int], torch.Tensor], *, step: int,
                  chunk_size: int = CHUNK_SIZE, show_progress: bool = True) -> torch.Tensor:
    """:func:`cached_vectors` in a folder the caller names (a corpus like MS MARCO's, whose
    vectors take hours to encode and tens of GB to hold, lives where there is room for it),
    in the same layout: written once, a chunk at a time, resumed after a kill, served as a
    read-only memmap.

    A store is never thrown away: one whose stored key differs from ``key`` (vectors
    written by another passage encoder, in another dtype, of another corpus) is refused
    with the fields that differ, and the caller chooses another folder or deletes it.
    """
    return _filled(Path(folder), key, count, encode, step=step, chunk_size=chunk_size, show_progress=show_progress,
                   other_key="refuse")


def _filled(folder: Path, key: dict, count: int, encode: Callable[[int, int], torch.Tensor], *, step: int,
            chunk_size: int, show_progress: bool, other_key: str) -> torch.Tensor:
    dtype = key["dtype"]
    _check_dtype(dtype)
    if count < 1:
        raise UserError("the corpus has no passages to encode")
    if chunk_size < 1 or step < 1:
        raise ValueError(f"chunk_size and step must be at least 1, got {chunk_size} and {step}")
    lock = folder.with_name(f"{folder.name}.lock")
    with exclusive_lock(lock, on_wait=lambda: log.warning("Waiting for another process encoding into %s", folder)):
        if other_key == "refuse":
            _refuse_another_key(folder, key)
        meta = _stored_progress(folder, key, count)
        if meta is None:
            if other_key == "refuse" and (folder / META).exists():
                raise UserError(f"{folder}: the store's meta.json and vectors.npy disagree (see the log); "
                                "delete the folder to write it again")
            shutil.rmtree(folder, ignore_errors=True)
            meta = {"key": key, "count": count, "dim": None, "dtype": dtype,
                    "chunk_size": chunk_size, "chunks": math.ceil(count / chunk_size), "chunks_done": 0,
                    "complete": False}
        if meta["complete"]:
            log.info("Passage vectors served from %s", folder)
        else:
            _encode_remaining(encode, step, folder, meta, show_progress)
    return read_only_tensor(folder / VECTORS)


def _refuse_another_key(folder: Path, key: dict) -> None:
    """Raise, naming the differing fields, if ``folder`` holds vectors stored for another key."""
    try:
        stored = json.loads((folder / META).read_text(encoding="utf-8")).get("key")
    except FileNotFoundError:
        return
    except (OSError, ValueError, AttributeError) as exc:
        raise UserError(f"{folder / META}: unreadable ({exc}); delete the folder to write the store again") from None
    if stored != key:
        stored = stored if isinstance(stored, dict) else {}
        differ = sorted(name for name in set(stored) | set(key) if stored.get(name) != key.get(name))
        raise UserError(f"{folder}: holds passage vectors stored for another {', '.join(differ)} "
                        f"(stored: {', '.join(f'{n}={stored.get(n)!r}' for n in differ)}; this run: "
                        f"{', '.join(f'{n}={key.get(n)!r}' for n in differ)}); choose another folder or delete it")


def _check_dtype(dtype: str) -> None:
    if dtype not in STORAGE_DTYPES:
        raise UserError(f"passage cache dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")


def corpus_vectors(model: Hypencoder, doc_ids: Sequence[str], texts: Sequence[str], batch_size: int, *,
                   use_cache: bool, cache_dir: Path | None, show_progress: bool) -> torch.Tensor:
    """The passage vectors the adapters search, on the model's device: through the cache
    (moved to the GPU whole when the model is there) or, without ``use_cache``, encoded."""
    if not use_cache:
        return model.encode_passages(list(texts), batch_size, show_progress)
    return cached_passage_vectors(model, doc_ids, texts, batch_size, cache_dir=cache_dir,
                                  show_progress=show_progress).to(model.device)


def passage_cache_key(model: Hypencoder, doc_ids: Sequence[str], texts: Sequence[str], dtype: str) -> dict:
    return {"format": FORMAT, "passage_encoder": passage_encoder_fingerprint(model),
            "corpus": corpus_fingerprint(doc_ids, texts), "max_length": model.max_length,
            "pooling": model.passage_pooling, "dtype": dtype}


def entry_name(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def passage_encoder_fingerprint(model: Hypencoder) -> str:
    """sha256 of the backbone that encodes passages: its config, tokenizer and weights."""
    backbone = model.passage_backbone if model.passage_backbone is not None else model.query_backbone
    return encoder_fingerprint(backbone_settings(backbone.config), model.tokenizer, backbone)


def corpus_fingerprint(doc_ids: Sequence[str], texts: Sequence[str], titles: Sequence[str] | None = None) -> str:
    """sha256 over the (id, text) pairs in order, or (id, title, text) triples where
    ``titles`` are given, each string length-prefixed so that two different corpora never
    feed sha256 the same bytes."""
    digest = hashlib.sha256()
    rows = zip(doc_ids, texts) if titles is None else zip(doc_ids, titles, texts)
    for row in rows:
        for value in row:
            data = str(value).encode("utf-8")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


def _stored_progress(folder: Path, key: dict, count: int) -> dict | None:
    """The meta.json of an entry for exactly ``key`` whose vectors file has the shape and
    dtype it records; None (saying why, if there was an entry) to start afresh."""
    meta_path = folder / META
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") != key:
            log.warning("%s was stored for another key; not served, encoding the passages again", folder)
            return None
        vectors = np.load(folder / VECTORS, mmap_mode="r")
        consistent = (meta["count"] == count and vectors.shape == (count, meta["dim"])
                      and vectors.dtype == np.dtype(key["dtype"])
                      and meta["chunks"] == math.ceil(count / meta["chunk_size"])
                      and 0 < meta["chunks_done"] <= meta["chunks"]
                      and meta["complete"] == (meta["chunks_done"] == meta["chunks"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ZeroDivisionError) as exc:
        log.warning("%s is unreadable (%s: %s); encoding the passages again", folder, type(exc).__name__, exc)
        return None
    if not consistent:
        log.warning("%s: meta.json and vectors.npy disagree; encoding the passages again", folder)
        return None
    return meta


def _encode_remaining(encode: Callable[[int, int], torch.Tensor], step: int, folder: Path, meta: dict,
                      show_progress: bool) -> None:
    """Encode the chunks ``meta`` does not count yet into ``folder``, recording each one.

    Each chunk is written through a mapping of its own rows only, closed after the flush,
    so the written pages leave this process's resident memory (a store larger than memory
    is written in the memory of one chunk)."""
    size, done, count = meta["chunk_size"], meta["chunks_done"], meta["count"]
    if done:
        log.info("Resuming the passage encoding in %s at chunk %d of %d", folder, done + 1, meta["chunks"])
    first = min(done * size, count)
    what = "Encoding passages into the cache" + (" (resumed)" if done else "")
    estimate = CostEstimate(f"encoding {count - first:,} passages into {folder}", count - first, "passages", log)
    with progress_bar(total=count, initial=first, desc=what, unit="passage", disable=not show_progress) as bar:
        for index in range(done, meta["chunks"]):
            start, stop = index * size, min(index * size + size, count)
            encoded = _encode_chunk(encode, start, stop, step, bar, estimate)
            encoded = encoded.to("cpu", STORAGE_DTYPES[meta["dtype"]]).numpy()
            if meta["dim"] is None:
                folder.mkdir(parents=True, exist_ok=True)
                np.lib.format.open_memmap(folder / VECTORS, mode="w+", dtype=encoded.dtype,
                                          shape=(count, encoded.shape[1])).flush()
                meta["dim"] = encoded.shape[1]
            _write_rows(folder / VECTORS, start, encoded)
            meta["chunks_done"] = index + 1
            meta["complete"] = index + 1 == meta["chunks"]
            atomic.write_json(folder / META, meta)


def _write_rows(path: Path, start: int, rows: np.ndarray) -> None:
    """Write ``rows`` at row ``start`` of the .npy file at ``path`` and flush them."""
    header = np.load(path, mmap_mode="r")
    offset, row_bytes = header.offset, header.strides[0]
    del header
    target = np.memmap(path, dtype=rows.dtype, mode="r+", offset=offset + start * row_bytes, shape=rows.shape)
    target[:] = rows
    target.flush()
    del target


def _encode_chunk(encode: Callable[[int, int], torch.Tensor], start: int, stop: int, step: int,
                  bar, estimate: CostEstimate) -> torch.Tensor:
    """One chunk's vectors, ``step`` passages per call so the progress bar moves between
    records (a chunk can take minutes on a CPU)."""
    parts = []
    for first in range(start, stop, step):
        last = min(first + step, stop)
        parts.append(torch.as_tensor(encode(first, last)))
        if len(parts[-1]) != last - first:
            raise RuntimeError(f"the encoder returned {len(parts[-1])} vectors for {last - first} passages")
        bar.update(len(parts[-1]))
        estimate.update(len(parts[-1]))
    return torch.cat(parts)


def read_only_tensor(path: Path) -> torch.Tensor:
    """A tensor over a read-only memmap of the .npy file at ``path`` (no copy)."""
    array = np.load(path, mmap_mode="r")
    with warnings.catch_warnings():
        # torch warns that it cannot protect a non-writable array; the mapping is
        # read-only, so a write would fault rather than change the cache. A copy-on-write
        # mapping would silence the warning but is charged against memory in full, which
        # a corpus larger than memory may not get.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)
