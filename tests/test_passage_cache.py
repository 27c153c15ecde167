"""The passage cache: served only for exactly the same passage encoder, corpus and
settings, shared by Hypencoders that differ only in their q-nets, resumed after a crash,
and used by both adapters."""

from __future__ import annotations

import copy
import fcntl
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperret_eval.models.hypencoder import Hypencoder, QNetShape
from hyperret_eval.search.passage_cache import cached_passage_vectors, entry_name, passage_cache_key
from tests.conftest import official_hypencoder

DOC_IDS = [f"d{i}" for i in range(40)]
TEXTS = [f"Passage {i} on " + " ".join(["retrieval"] * (i % 7) + ["and hypernetworks"]) for i in range(40)]
# Chunks are a whole number of batches, so chunked encoding pads exactly as one pass does.
CHUNK, BATCH = 16, 8
ALL_BATCHES = [8] * 5  # passages per call to encode_passages: one call per batch


@pytest.fixture(scope="module")
def model() -> Hypencoder:
    return Hypencoder.from_pretrained(official_hypencoder()).eval()


@pytest.fixture(scope="module")
def reference(model) -> torch.Tensor:
    return model.encode_passages(TEXTS, BATCH)


def count_encoding(model: Hypencoder, monkeypatch, fail_on_call: int | None = None) -> list[int]:
    """Record how many passages each call to ``model.encode_passages`` (one batch) gets;
    with ``fail_on_call``, that call (counting from 1) raises instead, as a killed run stops."""
    calls: list[int] = []
    encode = model.encode_passages

    def counted(texts, batch_size=32, show_progress=False):
        if len(calls) + 1 == fail_on_call:
            raise RuntimeError("killed")
        calls.append(len(texts))
        return encode(texts, batch_size, show_progress)

    monkeypatch.setattr(model, "encode_passages", counted)
    return calls


def cached(model, cache: Path, doc_ids=DOC_IDS, texts=TEXTS, dtype="float32") -> torch.Tensor:
    return cached_passage_vectors(model, doc_ids, texts, BATCH, cache_dir=cache, dtype=dtype, chunk_size=CHUNK,
                                  show_progress=False)


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.is_dir())


def mapped_files(tensor: torch.Tensor) -> list[str]:
    """The files whose mappings (per /proc/self/maps) hold the tensor's first byte."""
    address = tensor.data_ptr()
    found = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end and len(fields) == 6:
            found.append(fields[5])
    return found


def with_shape(model: Hypencoder, qnet_layers: int, **changes) -> Hypencoder:
    """Another Hypencoder on the same backbone object: a new q-net depth (a fresh
    hypernetwork) and optionally another pooling or max length."""
    d = model.query_backbone.config.hidden_size
    settings = {"passage_pooling": model.passage_pooling, "max_length": model.max_length, **changes}
    return Hypencoder(model.query_backbone, None, model.tokenizer,
                      QNetShape(vector_dimensions=(d,) * (qnet_layers + 1) + (1,)), **settings).eval()


@pytest.mark.slow
def test_cached_vectors_equal_encoding_and_are_served_from_a_memmap(model, reference, tmp_path, monkeypatch):
    calls = count_encoding(model, monkeypatch)
    first = cached(model, tmp_path)
    assert calls == ALL_BATCHES
    assert torch.equal(first, reference)

    second = cached(model, tmp_path)
    assert calls == ALL_BATCHES, "the second call encodes nothing"
    assert torch.equal(second, reference)
    (entry,) = entries(tmp_path)
    assert mapped_files(second) == [str((entry / "vectors.npy").resolve())], "served over the file, not a copy"
    meta = json.loads((entry / "meta.json").read_text())
    assert (meta["count"], meta["dim"], meta["chunks"], meta["chunks_done"], meta["complete"]) == (40, 128, 3, 3, True)


@pytest.mark.slow
def test_float16_entry_holds_the_rounded_vectors(model, reference, tmp_path):
    vectors = cached(model, tmp_path, dtype="float16")
    assert vectors.dtype == torch.float16
    assert torch.equal(vectors, reference.half())
    assert np.load(entries(tmp_path)[0] / "vectors.npy", mmap_mode="r").dtype == np.float16


@pytest.mark.slow
def test_hypencoders_differing_only_in_qnets_share_the_entry(model, reference, tmp_path, monkeypatch):
    cached(model, tmp_path)
    deeper = with_shape(model, qnet_layers=4)
    assert deeper.shape != model.shape
    calls = count_encoding(deeper, monkeypatch)
    assert torch.equal(cached(deeper, tmp_path), reference)
    assert calls == [] and len(entries(tmp_path)) == 1


@pytest.mark.slow
def test_only_the_passage_side_counts(model, reference, tmp_path, monkeypatch):
    """Passages encoded by a separate passage backbone with the shared one's weights hit
    the entry, whatever the query backbone holds."""
    cached(model, tmp_path)
    query_side = copy.deepcopy(model.query_backbone)
    with torch.no_grad():
        next(query_side.parameters()).add_(1.0)
    split = Hypencoder(query_side, copy.deepcopy(model.query_backbone), model.tokenizer, model.shape,
                       model.passage_pooling, model.max_length).eval()
    calls = count_encoding(split, monkeypatch)
    assert torch.equal(cached(split, tmp_path), reference)
    assert calls == [] and len(entries(tmp_path)) == 1


def _other_weights(model):
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.query_backbone.embeddings.LayerNorm.weight.mul_(1.5)
    return changed, DOC_IDS, TEXTS, "float32"


def _other_tokenizer(model):
    from tokenizers import normalizers

    changed = copy.deepcopy(model)
    changed.tokenizer.backend_tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
    return changed, DOC_IDS, TEXTS, "float32"


VARIANTS = {
    "one text": lambda m: (m, DOC_IDS, TEXTS[:-1] + ["another passage"], "float32"),
    "one id": lambda m: (m, DOC_IDS[:-1] + ["renamed"], TEXTS, "float32"),
    "order": lambda m: (m, DOC_IDS[::-1], TEXTS[::-1], "float32"),
    "fewer passages": lambda m: (m, DOC_IDS[:-1], TEXTS[:-1], "float32"),
    "max length": lambda m: (with_shape(m, 2, max_length=8), DOC_IDS, TEXTS, "float32"),
    "pooling": lambda m: (with_shape(m, 2, passage_pooling="mean"), DOC_IDS, TEXTS, "float32"),
    "dtype": lambda m: (m, DOC_IDS, TEXTS, "float16"),
    "backbone weights": _other_weights,
    "tokenizer": _other_tokenizer,
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_any_change_to_the_key_gets_a_new_entry(variant, model, tmp_path, monkeypatch):
    cached(model, tmp_path)
    other, doc_ids, texts, dtype = VARIANTS[variant](model)
    calls = count_encoding(other, monkeypatch)
    vectors = cached(other, tmp_path, doc_ids, texts, dtype)
    assert sum(calls) == len(texts), "encoded anew"
    assert len(entries(tmp_path)) == 2
    monkeypatch.undo()
    expected = other.encode_passages(list(texts), BATCH).to(vectors.dtype)
    assert torch.equal(vectors, expected)


def _tamper_key(entry: Path) -> None:
    meta = json.loads((entry / "meta.json").read_text())
    meta["key"]["corpus"] = "0" * 64
    (entry / "meta.json").write_text(json.dumps(meta))


def _zero_vectors_behind_a_false_meta(entry: Path) -> None:
    """Vectors of another shape with a meta.json claiming they are whole."""
    np.save(entry / "vectors.npy", np.zeros((40, 64), dtype=np.float32))


TAMPERING = {
    "meta key changed": _tamper_key,
    "meta not json": lambda entry: (entry / "meta.json").write_text("{"),
    "vectors missing": lambda entry: (entry / "vectors.npy").unlink(),
    "vectors of another shape": _zero_vectors_behind_a_false_meta,
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", list(TAMPERING))
def test_an_entry_that_does_not_match_is_never_served(damage, model, reference, tmp_path, monkeypatch, caplog):
    cached(model, tmp_path)
    (entry,) = entries(tmp_path)
    TAMPERING[damage](entry)
    calls = count_encoding(model, monkeypatch)
    assert torch.equal(cached(model, tmp_path), reference)
    assert calls == ALL_BATCHES, "encoded again from the start"
    assert "encoding the passages again" in caplog.text
    monkeypatch.undo()
    calls = count_encoding(model, monkeypatch)
    assert torch.equal(cached(model, tmp_path), reference)
    assert calls == [] and entries(tmp_path) == [entry], "the rewritten entry is served"


@pytest.mark.slow
def test_a_run_killed_mid_encoding_resumes_at_the_first_unfinished_chunk(model, reference, tmp_path, monkeypatch):
    count_encoding(model, monkeypatch, fail_on_call=5)  # the first batch of the third chunk
    with pytest.raises(RuntimeError, match="killed"):
        cached(model, tmp_path)
    (entry,) = entries(tmp_path)
    meta = json.loads((entry / "meta.json").read_text())
    assert (meta["chunks_done"], meta["complete"]) == (2, False)

    monkeypatch.undo()
    calls = count_encoding(model, monkeypatch)
    assert torch.equal(cached(model, tmp_path), reference)
    assert calls == [8], "only the last chunk is encoded"
    assert json.loads((entry / "meta.json").read_text())["complete"]


def test_an_entry_being_filled_elsewhere_is_waited_for(model, reference, tmp_path, caplog):
    """Another process holding the entry's lock: the call waits, then goes on."""
    lock = tmp_path / f"{entry_name(passage_cache_key(model, DOC_IDS, TEXTS, 'float32'))}.lock"
    results = []
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: results.append(cached(model, tmp_path)))
        worker.start()
        deadline = time.monotonic() + 30
        while "Waiting for another process" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Waiting for another process" in caplog.text and not results
    worker.join(timeout=60)
    assert torch.equal(results[0], reference)


@pytest.mark.slow
def test_both_adapters_use_the_cache_under_the_cache_root(model, reference, tmp_path, monkeypatch):
    import datasets

    from hyperret_eval.integrations.beir import HypencoderSearch
    from hyperret_eval.integrations.mteb_search import HypencoderMTEBSearch

    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "root"))
    corpus = {doc_id: {"title": "", "text": text} for doc_id, text in zip(DOC_IDS, TEXTS)}
    queries = {"q0": "retrieval", "q1": "hypernetworks"}
    uncached = HypencoderSearch(model, batch_size=BATCH, show_progress=False, use_cache=False).search(corpus, queries, 5)
    assert not (tmp_path / "root").exists()

    calls = count_encoding(model, monkeypatch)
    search = HypencoderSearch(model, batch_size=BATCH, show_progress=False)
    assert search.search(corpus, queries, 5) == uncached
    assert search.search(corpus, queries, 5) == uncached
    assert sum(calls) == len(TEXTS), "the second search encodes no passage"
    (entry,) = entries(tmp_path / "root" / "passages")

    mteb_corpus = datasets.Dataset.from_dict({"id": DOC_IDS, "title": [""] * len(DOC_IDS), "text": TEXTS})
    HypencoderMTEBSearch(model, mteb_model_meta=None, batch_size=BATCH).index(
        mteb_corpus, task_metadata=None, hf_split="test", hf_subset="default", encode_kwargs={})
    assert sum(calls) == len(TEXTS), "mteb's adapter is served the same entry"
    assert entries(tmp_path / "root" / "passages") == [entry]
