"""HiCL training on a tiny text file: the loss goes down, an interrupted run resumes to
the very weights of an uninterrupted one, and mteb finds the trained checkpoint."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.models.hicl import train as train_module
from hyperret_eval.models.hicl.losses import hicl_loss
from hyperret_eval.models.hicl.modeling_hicl import HiCLEncoder

TEXTS = [
    "the cat sat on the mat", "stock markets fell sharply on monday", "a recipe for lemon cake",
    "the team won the championship final", "rain is expected over the weekend", "new vaccine trial shows promise",
    "how to repair a bicycle puncture", "the museum opens a dinosaur exhibit", "quantum computers factor numbers",
    "a quiet village in the mountains", "the orchestra played beethoven", "electric cars need charging stations",
    "volcano erupts on remote island", "children learn to read at school", "the bakery sells fresh bread daily",
    "astronomers detect a distant galaxy " * 6,
]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def _config(text_file, **changes):
    base = NAMED_RECIPES["hicl"].config.replace(text_file=str(text_file), batch_size=8, segment_length=8, max_tokens=64,
                                   temperature=1.0, learning_rate=1e-4, save_every=1)
    return base.replace(**changes)


def _objective(encoder: HiCLEncoder) -> float:
    """The training loss on all texts with dropout off (deterministic)."""
    encoder.eval()
    with torch.no_grad():
        features = encoder.preprocess(TEXTS)
        out = encoder(dict(features))
        return hicl_loss(out["sentence_embedding"], out["sentence_embedding"], out["segment_embeddings"],
                         out["segment_embeddings"], features["segment_text"], alpha=0.2, temperature=1.0)["loss"].item()


@pytest.mark.slow
def test_short_training_lowers_the_loss(text_file, tmp_path):
    config = _config(text_file, max_steps=8)
    fresh = HiCLEncoder(str(train_module.backbone_path("minilm")), segment_length=8, max_tokens=64)
    before = _objective(fresh)
    result = train_module.train(config, tmp_path / "run", data_root=None)
    after = _objective(HiCLEncoder.load(str(tmp_path / "run")))
    assert result.steps_done == 8 and len(result.history) == 8
    assert after < before - 0.01, (before, after)


@pytest.mark.slow
def test_interrupted_training_resumes_exactly(text_file, tmp_path, monkeypatch):
    config = _config(text_file, max_steps=4)
    train_module.train(config, tmp_path / "straight", data_root=None)

    calls = {"n": 0}
    real_loss = train_module.hicl_loss

    def dies_at_step_three(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_module, "hicl_loss", dies_at_step_three)
    with pytest.raises(KeyboardInterrupt):
        train_module.train(config, tmp_path / "interrupted", data_root=None)
    monkeypatch.setattr(train_module, "hicl_loss", real_loss)
    resumed = train_module.train(config, tmp_path / "interrupted", data_root=None)

    assert resumed.resumed_from == 2 and resumed.steps_done == 4
    straight = HiCLEncoder.load(str(tmp_path / "straight")).state_dict()
    again = HiCLEncoder.load(str(tmp_path / "interrupted")).state_dict()
    worst = max((again[name] - tensor).abs().max().item() for name, tensor in straight.items())
    assert worst < 1e-6, worst


@pytest.mark.slow
def test_other_settings_do_not_resume_into_a_checkpoint(text_file, tmp_path):
    from hyperret_eval.core.errors import UserError

    train_module.train(_config(text_file, max_steps=1), tmp_path / "run", data_root=None)
    with pytest.raises(UserError, match="different configuration"):
        train_module.train(_config(text_file, max_steps=1, alpha=0.5), tmp_path / "run", data_root=None)


@pytest.mark.slow
def test_mteb_get_model_loads_the_trained_checkpoint(text_file, tmp_path, monkeypatch):
    import mteb

    import hyperret_eval  # noqa: F401  (registers the models with mteb)
    from hyperret_eval.catalogue import recipes
    from hyperret_eval.catalogue.checkpoints import locate_checkpoint

    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    tiny = _config(text_file, max_steps=1)
    monkeypatch.setitem(recipes.NAMED_RECIPES, "hicl", dataclasses.replace(recipes.NAMED_RECIPES["hicl"], config=tiny))
    train_module.train(tiny, locate_checkpoint(tiny, None).path, data_root=None)

    model = mteb.get_model("hyperret/hicl-minilm-l6", device="cpu")
    embeddings = model.model.encode(["hello world", TEXTS[-1]], convert_to_tensor=True)
    assert embeddings.shape == (2, 384)
    assert model.mteb_model_meta.name == "hyperret/hicl-minilm-l6"
    assert model.mteb_model_meta.revision == locate_checkpoint(tiny, None).fingerprint


def _losses(result) -> list[dict]:
    return [{key: value for key, value in record.items() if key != "elapsed_s"} for record in result.history]


@pytest.mark.slow
def test_same_seed_gives_the_same_losses_and_embeddings_on_cpu(text_file, tmp_path):
    """Dropout (HiCL's two views) and the batch order follow the seed, so two runs agree exactly."""
    config = _config(text_file, max_steps=2, save_every=2, batch_size=4, max_tokens=32)
    first, second = (train_module.train(config, tmp_path / run, data_root=None) for run in ("first", "second"))
    assert _losses(first) == _losses(second) and len(first.history) == 2

    embeddings = []
    for run in ("first", "second"):
        encoder = HiCLEncoder.load(str(tmp_path / run)).eval()
        with torch.no_grad():
            embeddings.append(encoder(dict(encoder.preprocess(TEXTS)))["sentence_embedding"])
    assert torch.equal(embeddings[0], embeddings[1])

    other_seed = train_module.train(config.replace(seed=config.seed + 1, max_steps=1), tmp_path / "other", data_root=None)
    assert _losses(other_seed)[0] != _losses(first)[0], "the seed must matter, or this test shows nothing"
