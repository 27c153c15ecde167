"""The embedding cache of sentence-transformers models (integrations/mteb_dense.py): a
second run on the same corpus encodes only the queries, rankings equal mteb's own dense
search, any change to what the vectors depend on gets a new entry, and the search reads
the cached memmap a chunk at a time (search/dense.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import datasets
import mteb
import numpy as np
import pytest
import torch
from mteb.models.search_wrappers import SearchEncoderWrapper

from hyperret_eval.core.world import World
from hyperret_eval.integrations.mteb_dense import FORMAT, CachedDenseSearch
from hyperret_eval.integrations.mteb_sharded import search_model_for
from hyperret_eval.search.dense import DenseSearch
from hyperret_eval.search.passage_cache import read_only_tensor

TOPICS = ["protein folding", "vitamin d", "sleep apnea", "gene editing", "malaria", "insulin", "ageing", "asthma",
          "obesity", "influenza"]
IDS = [f"d{i}" for i in range(30)]
TITLES = [f"On {TOPICS[i % 10]}" if i % 3 else "" for i in range(30)]  # some passages without a title
TEXTS = [f"A study of {TOPICS[i % 10]} in cohort {i}, with " + "follow-up " * (i % 5) for i in range(30)]
QUERIES = {"q0": "what causes malaria?", "q1": "does vitamin d help?", "q2": "sleep apnea and obesity"}
TOP_K = 10


def corpus(ids=IDS, titles=TITLES, texts=TEXTS) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": list(ids), "title": list(titles), "text": list(texts)})


def queries() -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": list(QUERIES), "text": list(QUERIES.values())})


@pytest.fixture(scope="module")
def metadata():
    return mteb.get_task("SciFact").metadata


def count_encoding(encoder, monkeypatch) -> dict[str, int]:
    """Texts encoded so far, by prompt type (query, document)."""
    counts = {"query": 0, "document": 0}
    encode = encoder.encode

    def counted(inputs, *, prompt_type=None, **kwargs):
        counts[prompt_type.value] += len(inputs.dataset)
        return encode(inputs, prompt_type=prompt_type, **kwargs)

    monkeypatch.setattr(encoder, "encode", counted)
    return counts


def search(encoder, metadata, cache: Path, docs=None, dtype="float32") -> dict[str, dict[str, float]]:
    """Index ``docs`` (default: the corpus) and search the queries, as mteb would."""
    model = CachedDenseSearch(encoder, cache_dir=cache, dtype=dtype, cache_chunk_size=8)
    where = {"task_metadata": metadata, "hf_split": "test", "hf_subset": "default"}
    kwargs = {"batch_size": 4, "show_progress_bar": False}
    model.index(docs if docs is not None else corpus(), encode_kwargs=kwargs, **where)
    return model.search(queries(), top_k=TOP_K, encode_kwargs=kwargs, **where)


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.is_dir())


@pytest.mark.slow
def test_a_second_run_encodes_only_the_queries(minilm, metadata, tmp_path, monkeypatch):
    counts = count_encoding(minilm, monkeypatch)
    first = search(minilm, metadata, tmp_path)
    assert counts == {"query": 3, "document": 30}
    second = search(minilm, metadata, tmp_path)  # a new search model, as a new run makes
    assert counts == {"query": 6, "document": 30}, "no passage encoded again"
    assert second == first
    (entry,) = entries(tmp_path)
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["key"]["format"] == FORMAT and (meta["count"], meta["dim"], meta["complete"]) == (30, 384, True)


@pytest.mark.slow
def test_rankings_equal_mtebs_own_dense_search(minilm, metadata, tmp_path):
    """Same documents, same order, same scores as mteb's SearchEncoderWrapper (which
    encodes every chunk afresh), from the cache's first run and from its second."""
    where = {"task_metadata": metadata, "hf_split": "test", "hf_subset": "default"}
    kwargs = {"batch_size": 4, "show_progress_bar": False}
    reference = SearchEncoderWrapper(minilm)
    reference.index(corpus(), encode_kwargs=kwargs, **where)
    expected = reference.search(queries(), top_k=TOP_K, encode_kwargs=kwargs, **where)
    for _ in range(2):
        ours = search(minilm, metadata, tmp_path)
        assert ours.keys() == expected.keys()
        for query_id, run in expected.items():
            assert sorted(ours[query_id], key=ours[query_id].get, reverse=True) == sorted(run, key=run.get, reverse=True)
            assert_same_top_k(ours[query_id], run, 1e-6)


def _changed(encoder, change):
    other = copy.deepcopy(encoder)
    change(other)
    return other


def _weights(encoder):
    with torch.no_grad():
        encoder.model[0].auto_model.embeddings.LayerNorm.weight.mul_(1.5)


def _pooling(encoder):
    from sentence_transformers.models import Pooling

    encoder.model._modules["1"] = Pooling(384, pooling_mode="cls")


def _prompt(encoder):
    encoder.model_prompts = {"query": "", "document": "passage: "}


# What the vectors depend on, each changed alone: (model change, corpus, storage dtype).
VARIANTS = {
    "one text": (None, corpus(texts=TEXTS[:-1] + ["another passage"]), "float32"),
    "one title": (None, corpus(titles=TITLES[:-1] + ["another title"]), "float32"),
    "one id": (None, corpus(ids=IDS[:-1] + ["renamed"]), "float32"),
    "order": (None, corpus(IDS[::-1], TITLES[::-1], TEXTS[::-1]), "float32"),
    "fewer passages": (None, corpus(IDS[:-1], TITLES[:-1], TEXTS[:-1]), "float32"),
    "storage dtype": (None, corpus(), "float16"),
    "weights": (_weights, corpus(), "float32"),
    "weight dtype": (lambda e: e.model.to(torch.bfloat16), corpus(), "float32"),
    "max length": (lambda e: setattr(e.model, "max_seq_length", 6), corpus(), "float32"),
    "pooling": (_pooling, corpus(), "float32"),
    "normalisation": (lambda e: e.model._modules.pop("2"), corpus(), "float32"),
    "document prompt": (_prompt, corpus(), "float32"),
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_any_change_to_the_key_gets_a_new_entry(variant, minilm, metadata, tmp_path, monkeypatch):
    search(minilm, metadata, tmp_path)
    change, docs, dtype = VARIANTS[variant]
    other = _changed(minilm, change) if change else minilm
    counts = count_encoding(other, monkeypatch)
    ours = search(other, metadata, tmp_path, docs, dtype)
    assert counts["document"] == len(docs), "encoded anew, never served the first entry"
    assert len(entries(tmp_path)) == 2
    monkeypatch.undo()
    # What was cached and searched is what this model gives for this corpus, uncached.
    where = {"task_metadata": metadata, "hf_split": "test", "hf_subset": "default"}
    kwargs = {"batch_size": 4, "show_progress_bar": False}
    reference = SearchEncoderWrapper(other)
    reference.index(docs, encode_kwargs=kwargs, **where)
    expected = reference.search(queries(), top_k=TOP_K, encode_kwargs=kwargs, **where)
    # Half-precision vectors, or bfloat16 weights over differently padded batches, agree to 1e-3.
    tolerance = 2e-3 if variant in ("storage dtype", "weight dtype") else 1e-5
    for query_id, run in expected.items():
        assert_same_top_k(ours[query_id], run, tolerance)


def assert_same_top_k(ours: dict[str, float], expected: dict[str, float], tolerance: float) -> None:
    """The same top-k: the same scores in order, and the same documents above the k-th
    score. Documents tied at the k-th place may differ: ours go to the lower index (the
    search engine's rule), mteb's to whichever its sort met first."""
    assert sorted(ours.values(), reverse=True) == pytest.approx(sorted(expected.values(), reverse=True), abs=tolerance)
    cut = min(expected.values()) + tolerance
    above = {doc: score for doc, score in expected.items() if score > cut}
    assert {doc: ours.get(doc) for doc in above} == pytest.approx(above, abs=tolerance)


def test_runs_search_sentence_transformers_through_the_cache(minilm, tmp_path):
    """What the runner hands mteb for a retrieval task: the cached dense search, in the
    cache folder it is given."""
    model = search_model_for(minilm, World(), cache_dir=tmp_path)
    assert isinstance(model, CachedDenseSearch) and model.cache_dir == tmp_path
    assert model.mteb_model_meta is minilm.mteb_model_meta


def test_encoders_the_key_cannot_name_are_refused(minilm):
    class Plain:
        mteb_model_meta = None

        def encode(self, *args, **kwargs):
            raise AssertionError("not called")

    with pytest.raises(TypeError, match="sentence-transformers"):
        CachedDenseSearch(Plain())
    assert isinstance(search_model_for(Plain(), World()), SearchEncoderWrapper)


def cosine(queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(passages, dim=1).T


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_memmap_search_reads_a_chunk_at_a_time_and_finds_the_exact_top_k(tmp_path, dtype):
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(1000, 16, generator=generator)
    vectors[700] = vectors[3]  # a tie, to be broken by the lower index
    np.save(tmp_path / "vectors.npy", vectors.numpy().astype(dtype))
    passages = read_only_tensor(tmp_path / "vectors.npy")
    queries = torch.randn(5, 16, generator=generator)
    queries[0] = vectors[3]
    seen: list[int] = []

    def recording(q, chunk):
        seen.append(len(chunk))
        return cosine(q, chunk)

    scores, ids = DenseSearch(passages, recording, chunk_size=96).search(queries, 20)
    assert seen == [96] * 10 + [40], "never more than one chunk of the corpus at a time"
    full = cosine(queries, passages.float())
    expected_scores, _ = full.topk(20, dim=1)
    assert torch.allclose(scores, expected_scores)
    assert torch.equal(full.gather(1, ids), scores)
    assert ids[0, :2].tolist() == [3, 700]


def test_memmap_search_caps_k_at_the_corpus_size(tmp_path):
    passages = torch.randn(7, 4)
    scores, ids = DenseSearch(passages, cosine, chunk_size=3).search(torch.randn(2, 4), 10)
    assert ids.shape == (2, 7) and sorted(ids[0].tolist()) == list(range(7))
    assert torch.all(scores[:, :-1] >= scores[:, 1:])


def test_search_before_index_is_an_error(minilm, metadata):
    with pytest.raises(RuntimeError, match="index"):
        CachedDenseSearch(minilm).search(queries(), task_metadata=metadata, hf_split="test", hf_subset="default",
                                         top_k=3, encode_kwargs={})


def test_memmap_search_scores_on_the_device_it_is_given(tmp_path):
    """Chunks go to the scoring device one at a time (a GPU model scores on its GPU); the
    meta device stands in for another device here: its tensors carry no data."""
    seen: list[torch.device] = []

    def recording(q, chunk):
        seen.append(chunk.device)
        return cosine(q, chunk)

    passages = torch.randn(10, 4)
    DenseSearch(passages, recording, chunk_size=4, device="cpu").search(torch.randn(2, 4), 3)
    assert seen == [torch.device("cpu")] * 3
    scores, _ = DenseSearch(passages, recording, chunk_size=4, device="meta").search(torch.randn(2, 4), 3)
    assert seen[3:] == [torch.device("meta")] * 3, "each chunk moved to the device before scoring"
    assert scores.device == torch.device("meta")
