"""Recipes from files: a name is one folder name, numbers are finite, YAML has no
aliases, and the file is small (issue 13, items 2, 8 and 12)."""

from __future__ import annotations

import json

import pytest

from hyperret_eval.cli import main
from hyperret_eval.core.errors import UserError
from tests.conftest import run_cli_measured


def _train(capsys, recipe) -> tuple[int, str]:
    code = main(["train", str(recipe), "--device", "cpu"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", ["../../../escaped", "/tmp/escaped-absolute", "..", "a/b", "nul\0byte", ""])
def test_recipe_name_must_be_one_safe_folder_name(capsys, tmp_path, throwaway_cache_root, name):
    recipe = tmp_path / "recipe.json"
    (tmp_path / "texts.txt").write_text("one\ntwo\nthree\nfour\n")
    recipe.write_text(json.dumps({"recipe": "hicl", "name": name, "text_file": "texts.txt", "max_steps": 1}))
    before = set(tmp_path.parent.rglob("*"))
    code, err = _train(capsys, recipe)
    assert code == 2 and "Traceback" not in err
    assert f"{recipe}: recipe name {name!r} is not a safe name" in err
    assert set(tmp_path.parent.rglob("*")) == before  # nothing written, here or beside the cache
    if "\0" not in name and name not in ("", ".."):
        assert not (throwaway_cache_root / "checkpoints" / name).exists()  # where the name led


@pytest.mark.parametrize(("setting", "value"), [("learning_rate", "nan"), ("temperature", "inf"),
                                                 ("alpha", "-inf")])
def test_non_finite_numbers_are_refused(capsys, tmp_path, setting, value):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'recipe = "hicl"\n{setting} = {value}\n')
    code, err = _train(capsys, recipe)
    assert code == 2 and "Traceback" not in err
    assert f"{recipe}: training config 'hicl-minilm-l6': {setting} = {float(value)} is not a finite number" in err


def test_retrieval_recipe_checks_the_same(capsys, tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('recipe = "hypencoder"\nhead_learning_rate = nan\n')
    code, err = _train(capsys, recipe)
    assert code == 2 and "head_learning_rate = nan is not a finite number" in err


@pytest.mark.slow
def test_yaml_alias_bomb_is_refused_quickly_and_small(tmp_path):
    lines = ['recipe: hicl', 'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text("\n".join(lines) + "\n")
    assert recipe.stat().st_size < 1000
    code, err, peak_gb = run_cli_measured("train", str(recipe), timeout=120)
    assert code == 2 and "Traceback" not in err, err
    assert f"{recipe}: not valid YAML" in err and "aliases (*name) are not allowed in a recipe" in err
    assert peak_gb < 2


def test_oversized_recipe_file_is_refused(capsys, tmp_path):
    recipe = tmp_path / "huge.toml"
    recipe.write_text('recipe = "hicl"\n' + "# padding\n" * 200_000)
    code, err = _train(capsys, recipe)
    assert code == 2 and "too big for a recipe file" in err


def test_json_recipe_nested_deeply_is_a_message(capsys, tmp_path):
    recipe = tmp_path / "deep.json"
    recipe.write_text('{"recipe": "hicl", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, err = _train(capsys, recipe)
    assert code == 2 and "Traceback" not in err and f"{recipe}: the recipe is nested" in err


def test_recipe_file_that_is_not_utf8(tmp_path):
    from hyperret_eval.catalogue.recipe_files import load_config_file, recipe_by_name_or_file

    config = tmp_path / "recipe.toml"
    config.write_bytes(b"alpha = 0.3\nname = '\xff'\n")
    with pytest.raises(UserError, match=rf"{config}: not valid UTF-8 \(invalid start byte at byte 21\)"):
        load_config_file(config, recipe_by_name_or_file("hicl"))


def test_a_checkpoint_trained_with_other_settings_is_named_with_them():
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES, checkpoint_model_name

    hicl = NAMED_RECIPES["hicl"].config
    assert checkpoint_model_name(hicl) == "hyperret/hicl-minilm-l6"
    assert checkpoint_model_name(hicl.replace(save_every=7)) == "hyperret/hicl-minilm-l6"  # same weights
    assert checkpoint_model_name(hicl.replace(max_steps=5)) == "hyperret/hicl-minilm-l6 (max_steps=5)"
    assert checkpoint_model_name(hicl.replace(text_file="/data/my texts.txt", seed=7)) == \
        "hyperret/hicl-minilm-l6 (seed=7, text_file=my texts.txt)"
    assert checkpoint_model_name(hicl.replace(name="my-hicl", max_steps=5)) == "hyperret/my-hicl"
