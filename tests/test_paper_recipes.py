"""The HiCL and SimCSE paper recipes: their settings are the papers', their text comes
from SimCSE's hub dataset (a loopback hub here) or a local file, and each trains for a
few steps on the packaged MiniLM."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperret_eval.catalogue.recipe_files import load_recipe_file
from hyperret_eval.core.errors import DataNotFoundError
from hyperret_eval.models.hicl import train as train_module

from .conftest import REPO

RECIPES = REPO / "benchmarks" / "recipes"
WIKI = "hf://datasets/princeton-nlp/datasets-for-simcse/wiki1m_for_simcse.txt"
SENTENCES = [
    "The river flows through the old town before it reaches the sea.",
    "A small bakery on the corner sells bread every morning.",
    "The committee approved the new budget after a long debate.",
    "Astronomers observed a comet passing close to the sun.",
    "The library extended its opening hours during the exam period.",
    "Heavy snow closed the mountain pass for three days.",
    "The striker scored twice in the second half of the final.",
    "Farmers in the valley grow apples, pears and plums.",
]


def test_the_recipes_carry_the_papers_settings():
    simcse = load_recipe_file(RECIPES / "simcse-bert-base-paper.toml")
    hicl = load_recipe_file(RECIPES / "hicl-bert-base-paper.toml")
    for config in (simcse, hicl):
        assert config.backbone == "google-bert/bert-base-uncased" and config.text_file == WIKI
        assert (config.batch_size, config.learning_rate, config.temperature) == (64, 3e-5, 0.05)
        assert config.max_steps == 1_000_000 // 64
    assert (simcse.alpha, simcse.max_tokens, simcse.segment_length, simcse.pooling) == (0.0, 32, 32, "cls")
    assert hicl.alpha > 0 and hicl.segment_length < hicl.max_tokens


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["simcse-bert-base-paper.toml", "hicl-bert-base-paper.toml"])
def test_a_paper_recipe_trains_on_minilm_from_the_hubs_text_file(recipe, mock_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "wiki1m_for_simcse.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    mock_hub.serve("princeton-nlp/datasets-for-simcse", "a" * 40, tmp_path / "hub", kind="datasets")
    config = load_recipe_file(RECIPES / recipe).replace(backbone="minilm", batch_size=4, max_steps=2, save_every=1,
                                                         bf16=False)

    result = train_module.train(config, tmp_path / "run", data_root=None)

    assert result.steps_done == 2 and len(result.history) == 2
    fetched = tmp_path / "cache" / "hub-files" / "princeton-nlp__datasets-for-simcse" / "wiki1m_for_simcse.txt"
    assert fetched.read_text(encoding="utf-8").splitlines() == SENTENCES
    assert any("/datasets/princeton-nlp/datasets-for-simcse/resolve/" in r for r in mock_hub.requests)
    from hyperret_eval.models.hicl.modeling_hicl import HiCLEncoder

    trained = HiCLEncoder.load(str(tmp_path / "run"))
    assert trained.segment_length == config.segment_length


def test_offline_the_missing_text_is_named_with_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HYPERRET_OFFLINE", "1")
    config = load_recipe_file(RECIPES / "simcse-bert-base-paper.toml")
    with pytest.raises(DataNotFoundError, match=r"wiki1m_for_simcse\.txt is not in the cache and offline mode is set"
                                                r".*princeton-nlp/datasets-for-simcse.*local copy"):
        config.training_files(None)
    assert not (tmp_path / "cache" / "hub-files").exists() or not any((tmp_path / "cache" / "hub-files").rglob("*.txt"))


def test_a_local_text_file_replaces_the_hub_one(tmp_path: Path):
    text = tmp_path / "wiki.txt"
    text.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    recipe = tmp_path / "mine.toml"
    recipe.write_text((RECIPES / "simcse-bert-base-paper.toml").read_text(encoding="utf-8")
                      .replace(f'text_file = "{WIKI}"', 'text_file = "wiki.txt"'), encoding="utf-8")
    assert load_recipe_file(recipe).training_files(None) == [text.resolve()]
