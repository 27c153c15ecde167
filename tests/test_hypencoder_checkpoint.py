"""Hypencoder in the released checkpoints' format: the fixture written by the reference
implementation is reproduced, and damaged checkpoints fail with clear messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from hyperret_eval.models.hypencoder import Hypencoder, QNets
from hyperret_eval.models.hypencoder.checkpoint import CheckpointError
from tests.conftest import official_hypencoder



@pytest.fixture(scope="module")
def expected():
    return json.loads((official_hypencoder() / "expected_scores.json").read_text())


@pytest.fixture(scope="module")
def model():
    return Hypencoder.from_pretrained(official_hypencoder())


@pytest.mark.slow
def test_fixture_passage_embeddings_and_scores_match_reference(model, expected):
    passages = model.encode_passages(expected["passages"], batch_size=32)
    qnets = model.encode_queries(expected["queries"], batch_size=32)
    torch.testing.assert_close(passages, torch.tensor(expected["passage_embeddings"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(qnets.score(passages), torch.tensor(expected["scores"]), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_qnets_shapes_follow_vector_dimensions(model, expected):
    qnets = model.encode_queries(expected["queries"])
    assert isinstance(qnets, QNets) and len(qnets) == 3
    assert [tuple(w.shape) for w in qnets.weights] == [(3, 128, 128)] * 3 + [(3, 128, 1)]
    assert [tuple(b.shape) for b in qnets.biases] == [(3, 128)] * 3


@pytest.mark.slow
def test_scoring_in_small_chunks_changes_nothing(model, expected):
    passages = model.encode_passages(expected["passages"])
    qnets = model.encode_queries(expected["queries"])
    torch.testing.assert_close(qnets.score(passages, chunk_size=1), qnets.score(passages), atol=1e-5, rtol=0)


def _copy(tmp_path) -> Path:
    target = tmp_path / "ckpt"
    shutil.copytree(official_hypencoder(), target)
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def test_truncated_weights_file(tmp_path):
    folder = _copy(tmp_path)
    data = (folder / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin: cannot read the weights"):
        Hypencoder.from_pretrained(folder)


@pytest.mark.slow
@pytest.mark.parametrize("keep", [0, 5, 0.5], ids=["empty", "header cut", "half"])
def test_truncated_safetensors_file(tmp_path, keep):
    """Our own format: model.safetensors cut short anywhere is a message, not a traceback."""
    from safetensors.torch import save_file

    folder = _copy(tmp_path)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    (folder / "pytorch_model.bin").unlink()
    save_file({k: v.clone().contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: int(keep * len(data)) if isinstance(keep, float) else keep])
    with pytest.raises(CheckpointError, match=r"model.safetensors: cannot read the weights \(truncated"):
        Hypencoder.from_pretrained(folder)


def test_missing_qnet_key(tmp_path):
    folder = _copy(tmp_path)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    del state["query_encoder.hyper_base_vectors.1"]
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"lacks q-net generator weights \['hyper_base_vectors.1'\]"):
        Hypencoder.from_pretrained(folder)


def test_shapes_that_disagree_with_the_config(tmp_path):
    folder = _copy(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["query_encoder_kwargs"]["converter_kwargs"]["vector_dimensions"] = [128, 64, 1]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"has shape .* but vector_dimensions \[128, 64, 1\] need"):
        Hypencoder.from_pretrained(folder)


@pytest.mark.slow
def test_safetensors_is_accepted(tmp_path, model, expected):
    from safetensors.torch import save_file

    folder = _copy(tmp_path)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    (folder / "pytorch_model.bin").unlink()
    save_file({k: v.clone().contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    reloaded = Hypencoder.from_pretrained(folder)
    passages = reloaded.encode_passages(expected["passages"])
    torch.testing.assert_close(passages, torch.tensor(expected["passage_embeddings"]), atol=1e-4, rtol=0)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="has no config.json"):
        Hypencoder.from_pretrained(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["exhaustive", "graph"])
def test_beir_evaluate_retrieval_runs_with_our_search(model, expected, method, tmp_path):
    from beir.retrieval.evaluation import EvaluateRetrieval

    from hyperret_eval.integrations.beir import HypencoderSearch
    from hyperret_eval.search.settings import SearchSettings

    corpus = {f"d{i}": {"title": "", "text": text} for i, text in enumerate(expected["passages"])}
    queries = {f"q{i}": text for i, text in enumerate(expected["queries"])}
    qrels = {"q0": {"d0": 1}, "q1": {"d1": 1}, "q2": {"d2": 1}}
    # Graph search entered from every passage must find exactly what exhaustive search finds.
    settings = SearchSettings(method=method, degree=2, entry_points=len(corpus), graph_dir=tmp_path)
    evaluator = EvaluateRetrieval(HypencoderSearch(model, settings=settings, show_progress=False), k_values=[1, 3])
    results = evaluator.retrieve(corpus, queries)
    if method == "graph":
        (saved,) = tmp_path.iterdir()
        before = saved.stat().st_mtime_ns
        assert evaluator.retrieve(corpus, queries) == results
        assert saved.stat().st_mtime_ns == before, "the saved graph is reused, not rebuilt"
    assert set(results) == set(queries) and all(len(docs) == 3 for docs in results.values())
    for i, qid in enumerate(queries):  # the top 3 of the reference scores, in order
        best = torch.tensor(expected["scores"][i]).topk(3).indices.tolist()
        assert list(results[qid]) == [f"d{j}" for j in best]
    ndcg, _map, recall, precision = evaluator.evaluate(qrels, results, evaluator.k_values)
    assert 0.0 <= ndcg["NDCG@3"] <= 1.0


@pytest.mark.slow
def test_official_format_round_trips_through_our_format(tmp_path, model, expected):
    model.save_pretrained(tmp_path / "ours")
    reloaded = Hypencoder.from_pretrained(tmp_path / "ours")
    passages = reloaded.encode_passages(expected["passages"])
    scores = reloaded.encode_queries(expected["queries"]).score(passages)
    torch.testing.assert_close(scores, torch.tensor(expected["scores"]), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_fresh_model_on_minilm_saves_and_loads(tmp_path):
    fresh = Hypencoder.from_backbone("minilm", qnet_layers=3).eval()
    assert fresh.shape.vector_dimensions == (384, 384, 384, 384, 1)
    texts = ["what is the capital of france", "paris is the capital of france", "bananas are yellow"]
    before = fresh.encode_queries(texts[:1]).score(fresh.encode_passages(texts[1:]))
    fresh.save_pretrained(tmp_path / "fresh")
    again = Hypencoder.from_pretrained(tmp_path / "fresh")
    after = again.encode_queries(texts[:1]).score(again.encode_passages(texts[1:]))
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    assert again.passage_pooling == "mean" and again.passage_backbone is None
    # Same seed, same initial q-net generator.
    other = Hypencoder.from_backbone("minilm", qnet_layers=3)
    torch.testing.assert_close(other.hypernetwork.hyper_base_matrices[0], fresh.hypernetwork.hyper_base_matrices[0])


@pytest.mark.slow
def test_mteb_evaluates_hypencoder_as_a_search_model(tmp_path, data_root):
    import mteb

    from hyperret_eval.catalogue.models import resolve_model
    from hyperret_eval.catalogue.tasks import load_catalogue
    from hyperret_eval.data.beir import read_beir_folder
    from hyperret_eval.integrations.mteb_loader import load_for_mteb
    from hyperret_eval.integrations.mteb_tasks import build_task

    from .conftest import make_small_beir

    make_small_beir(data_root / "beir" / "scifact", tmp_path / "scifact", n_queries=8, n_extra_docs=40)
    task = build_task(load_catalogue()["SciFact"], read_beir_folder(tmp_path / "scifact", "test"), "subset", "subset")
    resolved = resolve_model(str(official_hypencoder()))
    assert resolved.kind == "hypencoder"
    search_model = load_for_mteb(resolved, "cpu")
    assert isinstance(search_model, mteb.SearchProtocol)
    scores = mteb.evaluate(search_model, task, cache=None, overwrite_strategy="always",
                           show_progress_bar=False).task_results[0].scores["test"][0]
    assert 0.0 <= scores["ndcg_at_10"] <= 1.0
    assert scores["ir_measures:nDCG@10"] == pytest.approx(scores["ndcg_at_10"], abs=5e-5)


class _Payload:
    """Unpickling this would create a file: the proof that code from a checkpoint ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_payload_in_weights_is_refused_and_never_runs(tmp_path):
    import pickle

    marker = tmp_path / "payload-ran"
    folder = _copy(tmp_path)
    (folder / "model.safetensors").unlink(missing_ok=True)
    torch.save({"weights": _Payload(marker)}, folder / "pytorch_model.bin", pickle_module=pickle)
    with pytest.raises(CheckpointError, match="cannot read the weights"):
        Hypencoder.from_pretrained(folder)
    assert not marker.exists(), "the checkpoint's pickle ran code"
    torch.load(folder / "pytorch_model.bin", weights_only=False)  # the payload is real: full unpickling runs it
    assert marker.exists()
