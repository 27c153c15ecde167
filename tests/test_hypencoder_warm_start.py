"""The warm start: a fresh Hypencoder's q-nets score passages by the scaled cosine of the
centred mean-pooled query and passage vectors, for every depth, and the q-net stays in
float32 under bfloat16 autocast."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from hyperret_eval.models.hypencoder import Hypencoder, QNetShape
from hyperret_eval.models.hypencoder.hypernetwork import QNetHypernetwork
from hyperret_eval.models.hypencoder.modeling import warm_start_offset


@pytest.fixture(scope="module")
def backbone_states(data_root):
    """MiniLM token states of 8 SciFact queries and the mean-pooled vectors of 24 abstracts."""
    model = Hypencoder.from_backbone("minilm", qnet_layers=1).eval()
    with open(data_root / "beir" / "scifact" / "queries.jsonl", encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line, _ in zip(fh, range(8))]
    with open(data_root / "beir" / "scifact" / "corpus.jsonl", encoding="utf-8") as fh:
        passages = [(lambda d: f"{d['title']} {d['text']}")(json.loads(line)) for line, _ in zip(fh, range(24))]
    with torch.no_grad():
        batch = model.tokenize(queries)
        hidden = model.query_backbone(**batch).last_hidden_state
    vectors = model.encode_passages(passages).clone()  # a normal tensor: one test takes gradients through it
    return hidden, batch["attention_mask"], vectors


def _centred_cosine(hidden, mask, passages, scale=20.0):
    weights = mask.unsqueeze(-1).float()
    query = (hidden * weights).sum(1) / weights.sum(1)
    centre = lambda x: F.normalize(x - x.mean(dim=1, keepdim=True), dim=-1)  # noqa: E731
    return scale * centre(query) @ centre(passages).T


@pytest.mark.slow
@pytest.mark.parametrize("layers", [1, 2, 4, 6, 8])
def test_warm_start_scores_are_the_centred_cosine(layers, backbone_states):
    hidden, mask, passages = backbone_states
    d = hidden.shape[-1]
    network = QNetHypernetwork(d, QNetShape(vector_dimensions=(d,) * (layers + 1) + (1,)))
    network.reset_parameters_warm_start(seed=3, offset=warm_start_offset(layers))
    with torch.no_grad():
        scores = network(hidden, mask).score(passages)
    expected = _centred_cosine(hidden, mask, passages)
    assert (scores - expected).abs().max() < 1e-2, "the q-net computes 20 * the centred cosine"
    assert torch.equal(scores.argsort(dim=1)[:, -5:], expected.argsort(dim=1)[:, -5:]), "same top 5 per query"

    if layers >= 4:  # a fixed offset of 10 is too small for deep q-nets: the ReLU clips
        network.reset_parameters_warm_start(seed=3, offset=10.0)
        with torch.no_grad():
            assert (network(hidden, mask).score(passages) - expected).abs().max() > 2e-2


@pytest.mark.slow
def test_reference_init_is_far_from_the_cosine(backbone_states):
    hidden, mask, passages = backbone_states
    d = hidden.shape[-1]
    network = QNetHypernetwork(d, QNetShape(vector_dimensions=(d, d, d, 1)))
    network.reset_parameters_as_reference(seed=3)
    with torch.no_grad():
        scores = network(hidden, mask).score(passages)
    assert (scores - _centred_cosine(hidden, mask, passages)).abs().max() > 1.0


@pytest.mark.slow
def test_warm_start_keeps_query_dependent_weights_trainable(backbone_states):
    """The generated hidden weights still depend on the query through a small projection,
    so gradients reach the learned attention queries."""
    hidden, mask, passages = backbone_states
    d = hidden.shape[-1]
    network = QNetHypernetwork(d, QNetShape(vector_dimensions=(d, d, d, 1)))
    network.reset_parameters_warm_start(seed=3, offset=warm_start_offset(2))
    network(hidden, mask).score(passages).logsumexp(dim=1).sum().backward()
    for i in range(3):
        assert network.weight_query_embeddings[i].grad.abs().sum() > 0
        assert network.weight_hyper_projection[i].weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_qnet_runs_in_float32_under_bfloat16_autocast(backbone_states):
    """x + 10 in bfloat16 has a step of 0.0625, more than a passage vector's entries: the
    hypernetwork and the q-net must not follow autocast."""
    hidden, mask, passages = backbone_states
    model = Hypencoder.from_backbone("minilm", qnet_layers=2).eval()
    with torch.no_grad():
        plain = model.hypernetwork(hidden, mask).score(passages)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            qnets = model.hypernetwork(hidden.bfloat16(), mask)
            autocast = qnets.score(passages)
            encoded = model.query_qnets(model.tokenize(["vitamin d and bone density"]))
    assert all(w.dtype == torch.float32 for w in qnets.weights) and autocast.dtype == torch.float32
    assert torch.allclose(plain, autocast, atol=0.05), "only the bfloat16 rounding of the token states differs"
    assert all(w.dtype == torch.float32 for w in encoded.weights)
