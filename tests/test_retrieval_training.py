"""Hypencoder and bi-encoder training on a small SciFact training split: hard negatives
are mined, the loss goes down, and the checkpoint loads for evaluation."""

from __future__ import annotations

import json

import pytest
import torch

from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.models.hypencoder import Hypencoder
from hyperret_eval.models.hypencoder.mining import mine_examples
from hyperret_eval.models.hypencoder.train import RetrievalTrainConfig, margin_mse, train_retrieval


def test_bm25_mining_never_picks_a_positive(train_root):
    data = read_beir_folder(train_root / "beir" / "scifact", "train")
    examples = mine_examples(data, "bm25", negatives=3, depth=20)
    assert len(examples) >= 10
    for ex in examples:
        assert ex.positive_id in data.qrels[ex.query_id]
        assert len(ex.negative_ids) == 3 and not set(ex.negative_ids) & set(data.qrels[ex.query_id])


def test_margin_mse_is_zero_for_matching_margins():
    pos, neg = torch.tensor([3.0, 1.0]), torch.tensor([[1.0, 0.0], [0.5, 0.0]])
    assert margin_mse(pos, neg, pos + 7, neg + 7).item() == pytest.approx(0.0)
    assert margin_mse(pos, neg, pos, neg + 1).item() == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["hypencoder", "be"])
def test_training_lowers_the_loss_and_saves_a_loadable_model(kind, train_root, tmp_path):
    config = RetrievalTrainConfig(name=f"test-{kind}", model=kind, qnet_layers=1, batch_size=4, negatives=1,
                                  max_steps=6, save_every=3, learning_rate=1e-4 if kind == "be" else 3e-4)
    result = train_retrieval(config, tmp_path / kind, train_root)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 6
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2, losses
    state = json.loads((tmp_path / kind / "training" / "state.json").read_text())
    assert state["step"] == 6
    if kind == "hypencoder":
        model = Hypencoder.from_pretrained(tmp_path / kind)
        assert model.encode_queries(["a claim"]).score(model.encode_passages(["an abstract"])).shape == (1, 1)
