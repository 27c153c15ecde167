"""Recipes from files: a name is one folder name, numbers are finite, YAML has no
aliases, and the file is small."""

from __future__ import annotations

import json
import os
import time

import pytest

from hyperret_eval.cli import main
from hyperret_eval.core.errors import UserError
from tests.conftest import outcome_within, run_cli_measured


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
    assert code == 2 and f"{recipe}: the recipe file is more than the 1048576 bytes allowed" in err


def test_json_recipe_nested_deeply_is_a_message(capsys, tmp_path):
    recipe = tmp_path / "deep.json"
    recipe.write_text('{"recipe": "hicl", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, err = _train(capsys, recipe)
    assert code == 2 and "Traceback" not in err and f"{recipe}: the recipe is nested" in err


def test_recipe_file_that_is_not_utf8(tmp_path):
    from hyperret_eval.catalogue.recipe_files import load_config_file, recipe_by_name_or_file

    config = tmp_path / "recipe.toml"
    config.write_bytes(b"alpha = 0.3\nname = '\xff'\n")
    with pytest.raises(UserError, match=rf"{config}: the recipe file is not UTF-8 text \(invalid start byte at byte 21\)"):
        load_config_file(config, recipe_by_name_or_file("hicl"))


def test_a_recipe_that_is_a_fifo_is_refused_without_blocking(capsys, tmp_path):
    recipe = tmp_path / "recipe.toml"
    os.mkfifo(recipe)
    code, err = outcome_within(10, lambda: _train(capsys, recipe))
    assert code == 2 and f"{recipe}: the recipe file is a FIFO (named pipe), not a regular file" in err


def test_a_recipe_linked_to_dev_zero_is_refused_without_reading_it(capsys, tmp_path):
    """``stat`` follows the link and says 0 bytes: the 1 MiB bound must hold on what is read."""
    recipe = tmp_path / "recipe.toml"
    recipe.symlink_to("/dev/zero")
    code, err = _train(capsys, recipe)
    assert code == 2 and "is a character device, not a regular file" in err and "Traceback" not in err


def test_a_deeply_nested_toml_recipe_is_a_message(capsys, tmp_path):
    recipe = tmp_path / "deep.toml"
    recipe.write_text('recipe = "hicl"\nx = ' + "[" * 50_000 + "]" * 50_000 + "\n")
    code, err = _train(capsys, recipe)
    assert code == 2 and "Traceback" not in err and f"{recipe}: the recipe is nested too deeply" in err


def test_a_deeply_nested_yaml_recipe_is_a_message(capsys, tmp_path):
    recipe = tmp_path / "deep.yaml"
    recipe.write_text("recipe: hicl\nx: " + "[" * 100 + "]" * 100 + "\n")
    code, err = _train(capsys, recipe)
    assert code == 2 and f"{recipe}: the recipe is nested more than 64 levels deep" in err


@pytest.mark.parametrize("setting", ["text_file", "teacher_scores", "training_file"])
@pytest.mark.parametrize("value", ["../outside.txt", "/etc/passwd"])
def test_recipe_paths_must_lie_in_the_recipe_folder(capsys, tmp_path, setting, value):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (tmp_path / "outside.txt").write_text("one\ntwo\n")
    recipe = folder / "recipe.json"
    base = "hicl" if setting == "text_file" else "hypencoder"
    recipe.write_text(json.dumps({"recipe": base, setting: value, "max_steps": 1}))
    code, err = _train(capsys, recipe)
    assert code == 2 and "Traceback" not in err
    assert f"{recipe}: {setting} {value!r} leads outside {folder}" in err


def test_a_recipe_path_linked_outside_its_folder_is_refused(capsys, tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (tmp_path / "outside.txt").write_text("one\ntwo\n")
    (folder / "texts.txt").symlink_to(tmp_path / "outside.txt")
    recipe = folder / "recipe.json"
    recipe.write_text(json.dumps({"recipe": "hicl", "text_file": "texts.txt", "max_steps": 1}))
    code, err = _train(capsys, recipe)
    assert code == 2 and "text_file 'texts.txt' leads outside" in err


def test_a_recipe_backbone_folder_outside_the_recipe_folder_and_cache_is_refused(capsys, tmp_path,
                                                                                 throwaway_cache_root):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    recipe = folder / "recipe.json"
    recipe.write_text(json.dumps({"recipe": "hicl", "backbone": "../model", "max_steps": 1}))
    code, err = _train(capsys, recipe)
    assert code == 2 and f"{recipe}: backbone '../model' leads outside the recipe's folder" in err


@pytest.mark.parametrize("seed", [-1, 2 ** 32])
def test_a_recipe_seed_out_of_range_is_a_message(capsys, tmp_path, seed):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'recipe = "hicl"\nseed = {seed}\n')
    code, err = _train(capsys, recipe)
    assert code == 2 and "Traceback" not in err
    assert f"seed must be an integer from 0 to 4294967295, found {seed}" in err


@pytest.mark.parametrize("command", [["run", "--tasks", "STS12", "--models", "minilm"], ["train", "hicl"]])
def test_seed_out_of_range_on_the_command_line_is_a_message(capsys, tmp_path, command):
    start = time.monotonic()
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--seed", "-1", "--output-dir" if command[0] == "run" else "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert "argument --seed: --seed must be an integer from 0 to 4294967295, found -1" in err
    assert time.monotonic() - start < 5 and not (tmp_path / "out").exists()


def test_a_checkpoint_trained_with_other_settings_is_named_with_them():
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES, checkpoint_model_name

    hicl = NAMED_RECIPES["hicl"].config
    assert checkpoint_model_name(hicl) == "hyperret/hicl-minilm-l6"
    assert checkpoint_model_name(hicl.replace(save_every=7)) == "hyperret/hicl-minilm-l6"  # same weights
    assert checkpoint_model_name(hicl.replace(max_steps=5)) == "hyperret/hicl-minilm-l6 (max_steps=5)"
    assert checkpoint_model_name(hicl.replace(text_file="/data/my texts.txt", seed=7)) == \
        "hyperret/hicl-minilm-l6 (seed=7, text_file=my texts.txt)"
    assert checkpoint_model_name(hicl.replace(name="my-hicl", max_steps=5)) == "hyperret/my-hicl"
