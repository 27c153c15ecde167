"""Hypencoder and bi-encoder training on a small SciFact training split: hard negatives
are mined, the loss goes down, and the checkpoint loads for evaluation."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.models.hypencoder import Hypencoder
from hyperret_eval.models.hypencoder.config import RetrievalTrainConfig
from hyperret_eval.models.hypencoder.mining import mine_examples
from hyperret_eval.models.hypencoder.train import margin_mse, train_retrieval


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


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hypencoder", "be"])
def test_training_lowers_the_loss_and_saves_a_loadable_model(kind, train_root, tmp_path):
    config = RetrievalTrainConfig(name=f"test-{kind}", model=kind, qnet_layers=1, batch_size=4, negatives=1,
                                  max_steps=6, save_every=3, learning_rate=1e-4 if kind == "be" else 3e-4)
    result = train_retrieval(config, tmp_path / kind, train_root)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 6
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2, losses
    state = json.loads((tmp_path / kind / "training" / "state.json").read_text())
    assert state["step"] == 6 and state["autocast"] is None, "float32 throughout on the CPU"
    if kind == "hypencoder":
        model = Hypencoder.from_pretrained(tmp_path / kind)
        assert model.encode_queries(["a claim"]).score(model.encode_passages(["an abstract"])).shape == (1, 1)


def _losses(result) -> list[dict]:
    return [{key: value for key, value in record.items() if key != "elapsed_s"} for record in result.history]


@pytest.mark.slow
def test_same_seed_gives_the_same_losses_and_scores_on_cpu(tiny_train_root, tmp_path):
    """Initialisation, mining, batch order and the steps all follow the seed (that another
    seed changes the losses is shown, more cheaply, for HiCL in test_hicl_training.py)."""
    config = RetrievalTrainConfig(name="test-determinism", qnet_layers=1, batch_size=2, negatives=1, max_steps=2,
                                  save_every=2)
    first, second = (train_retrieval(config, tmp_path / run, tiny_train_root) for run in ("first", "second"))
    assert _losses(first) == _losses(second) and len(first.history) == 2

    queries = ["a claim about proteins", "vitamin d and bone density"]
    passages = ["an abstract on protein folding", "a trial of vitamin supplements", "an unrelated passage"]
    scores = []
    for run in ("first", "second"):
        model = Hypencoder.from_pretrained(tmp_path / run)
        with torch.no_grad():
            scores.append(model.encode_queries(queries).score(model.encode_passages(passages)))
    assert torch.equal(scores[0], scores[1])


@pytest.mark.slow
def test_mteb_get_model_loads_the_hypencoder_recipe_checkpoint(train_root, tmp_path, monkeypatch):
    """``mteb.get_model("hyperret/hypencoder-minilm-l6")``: refused with the command to run
    while the recipe's checkpoint is missing, then mteb's search model over it, searching
    exhaustively or as the ``search`` settings say."""
    import mteb

    import hyperret_eval  # noqa: F401  (registers the models with mteb)
    from hyperret_eval.catalogue import recipes
    from hyperret_eval.catalogue.checkpoints import ensure_checkpoint, locate_checkpoint
    from hyperret_eval.core.errors import UserError
    from hyperret_eval.search.settings import SearchSettings

    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HYPERRET_DATA", str(train_root))
    tiny = RetrievalTrainConfig(qnet_layers=1, batch_size=4, negatives=1, max_steps=1, save_every=1)
    monkeypatch.setitem(recipes.NAMED_RECIPES, "hypencoder",
                        dataclasses.replace(recipes.NAMED_RECIPES["hypencoder"], config=tiny))
    with pytest.raises(UserError, match="hyperret-eval train hypencoder"):
        mteb.get_model("hyperret/hypencoder-minilm-l6", device="cpu")

    checkpoint = locate_checkpoint(tiny, train_root)
    ensure_checkpoint(checkpoint, "hypencoder", "cpu", announce=lambda message: None)
    exhaustive = mteb.get_model("hyperret/hypencoder-minilm-l6", device="cpu")
    assert isinstance(exhaustive, mteb.SearchProtocol) and exhaustive.settings.method == "exhaustive"
    assert exhaustive.mteb_model_meta.name == "hyperret/hypencoder-minilm-l6"
    assert exhaustive.mteb_model_meta.revision == checkpoint.fingerprint
    graph = mteb.get_model("hyperret/hypencoder-minilm-l6", device="cpu", search={"method": "graph", "entry_points": 64})
    assert graph.settings == SearchSettings(method="graph", entry_points=64)
    assert graph.mteb_model_meta.revision == checkpoint.fingerprint
    # mteb files the run as an experiment of its own, apart from the exhaustive search's.
    assert graph.mteb_model_meta.experiment_kwargs == {"search": {"method": "graph", "entry_points": 64}}
    assert graph.mteb_model_meta.experiment_name and exhaustive.mteb_model_meta.experiment_name is None
    with pytest.raises(UserError, match="unknown search setting.*ef_search"):
        mteb.get_model("hyperret/hypencoder-minilm-l6", device="cpu", search={"ef_search": 64})


def _parameters(module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


@pytest.mark.slow
def test_frozen_backbone_trains_the_hypernetwork_only(tiny_train_root, tmp_path):
    from hyperret_eval.models.hypencoder.train import _HypencoderTrainee

    config = RetrievalTrainConfig(name="test-frozen", qnet_layers=1, batch_size=2, negatives=1, max_steps=2,
                                  save_every=2, freeze_backbone=True, learning_rate=1e-3)
    before = _HypencoderTrainee(config, resume_from=None).model
    train_retrieval(config, tmp_path / "frozen", tiny_train_root)
    after = Hypencoder.from_pretrained(tmp_path / "frozen")
    backbone_before, backbone_after = _parameters(before.query_backbone), _parameters(after.query_backbone)
    assert all(torch.equal(backbone_before[k], backbone_after[k]) for k in backbone_before)
    head_before, head_after = _parameters(before.hypernetwork), _parameters(after.hypernetwork)
    assert any(not torch.equal(head_before[k], head_after[k]) for k in head_before)


def test_constant_schedule_with_warmup_and_one_learning_rate(tiny_train_root, tmp_path):
    from hyperret_eval.models.hypencoder.train import _HypencoderTrainee
    from hyperret_eval.models.training import learning_rate_schedule

    config = RetrievalTrainConfig(qnet_layers=1, lr_schedule="constant_with_warmup", warmup_steps=4, max_steps=10)
    trainee = _HypencoderTrainee(config, resume_from=None)
    groups = trainee.parameter_groups()
    assert [g["lr"] for g in groups] == [2e-5, 2e-5], "backbone and hypernetwork share the paper's one rate"
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    scheduler = learning_rate_schedule(optimizer, config.lr_schedule, config.warmup_steps, config.max_steps)
    rates = []
    for _ in range(8):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:5] == pytest.approx([0, 5e-6, 1e-5, 1.5e-5, 2e-5]) and rates[4:] == pytest.approx([2e-5] * 4)
    linear = learning_rate_schedule(optimizer, "linear", 0, 10)
    assert linear.get_last_lr()[0] == pytest.approx(2e-5)


def test_cross_entropy_over_positives_only():
    """The paper's in-batch loss: each query's positive against the batch's positives."""
    from hyperret_eval.core.world import World
    from hyperret_eval.data.training_examples import Example
    from hyperret_eval.models.hypencoder.train import batch_loss

    batch = [Example(f"q{i}", f"p{i}", (f"n{i}",)) for i in range(3)]
    table = torch.randn(3, 6)
    scorer = lambda queries, passages: table  # noqa: E731  (3 queries x (positive, negative) x 3)
    positives, _ = batch_loss(scorer, batch, World(), candidates="positives")
    everything, _ = batch_loss(scorer, batch, World(), candidates="all")
    assert positives.item() == pytest.approx(torch.nn.functional.cross_entropy(table[:, ::2], torch.arange(3)).item())
    assert everything.item() == pytest.approx(torch.nn.functional.cross_entropy(table, torch.arange(3) * 2).item())


@pytest.mark.parametrize("setting", ["init = \"zeros\"", "lr_schedule = \"cosine\"", "cross_entropy_candidates = \"x\"",
                                     "head_learning_rate = \"fast\""])
def test_recipe_file_refuses_unknown_option_values(setting, tmp_path):
    from hyperret_eval.catalogue.recipe_files import load_recipe_file
    from hyperret_eval.core.errors import UserError

    recipe = tmp_path / "r.toml"
    recipe.write_text(f'recipe = "hypencoder"\n{setting}\n')
    with pytest.raises(UserError, match=setting.split(" ")[0]):
        load_recipe_file(recipe)
    recipe.write_text('recipe = "hypencoder"\nhead_learning_rate = 1e-4\n')
    assert load_recipe_file(recipe).head_learning_rate == 1e-4


@pytest.mark.slow
def test_dense_mining_trains_without_an_encoder_given(tiny_train_root, tmp_path):
    """`train hypencoder --miner dense` trains: the backbone mines its own negatives."""
    config = RetrievalTrainConfig(name="test-dense", qnet_layers=1, batch_size=2, negatives=1, max_steps=1,
                                  save_every=1, miner="dense")
    result = train_retrieval(config, tmp_path / "dense", tiny_train_root)
    assert result.steps_done == 1 and result.history[0]["loss"] > 0
