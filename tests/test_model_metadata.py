"""Our models as mteb sees them: every named recipe in mteb's registry, anything else through
``hyperret_eval.load_model`` (recipe files, checkpoint folders), mteb's CLI through
``hyperret-mteb``; and what their metadata says they were trained on and from: the tasks
whose data a recipe reads, joined with those of the backbone mteb knows, so mteb's
zero-shot flag is right for the tasks we report."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import pytest

from hyperret_eval.catalogue.models import resolve_model
from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.catalogue.tasks import tasks_reading
from hyperret_eval.core.errors import UserError
from hyperret_eval.models.backbones import MINILM_HUB_ID, packaged_minilm_path
from hyperret_eval.models.training_state import state_path
from tests.conftest import REPO, child_env, official_hypencoder


def _trained_on(config) -> frozenset[str]:
    return tasks_reading(config.data_folders())


def test_a_recipe_has_trained_on_the_tasks_whose_data_it_reads():
    hicl, be = NAMED_RECIPES["hicl"].config, NAMED_RECIPES["be"].config
    assert _trained_on(hicl) == {"SciFact", "TRECDL2019Subset"}  # abstracts and passages, as unlabeled text
    assert _trained_on(be) == _trained_on(NAMED_RECIPES["hypencoder-8layer"].config) == {"SciFact"}
    assert _trained_on(hicl.replace(text_sources=("senteval",))) == frozenset()  # no task of ours
    assert _trained_on(dataclasses.replace(be, dataset="beir/trec-dl-2019-subset")) == {"TRECDL2019Subset"}


def test_registered_models_are_not_zero_shot_on_what_they_trained_on():
    import mteb

    import hyperret_eval  # noqa: F401  (registers the models with mteb)

    minilm = mteb.get_model_meta(MINILM_HUB_ID)
    for name in ("hyperret/hicl-minilm-l6", "hyperret/simcse-minilm-l6", "hyperret/hypencoder-minilm-l6"):
        meta = mteb.get_model_meta(name)
        assert meta.adapted_from == MINILM_HUB_ID
        assert minilm.training_datasets <= meta.training_datasets  # the backbone's training counts too
        assert not meta.is_zero_shot_on(["SciFact"]) and meta.is_zero_shot_on(["STS12"])
    assert "TRECDL2019Subset" in mteb.get_model_meta("hyperret/hicl-minilm-l6").training_datasets


def test_model_meta_json_is_the_same_whatever_the_hash_seed():
    """mteb lists training datasets from a set; the file must not depend on the process."""
    script = ("import json, mteb, hyperret_eval; "
              "from hyperret_eval.evaluation.results import model_meta_dict; "
              "print(json.dumps(model_meta_dict(mteb.get_model_meta('hyperret/hicl-minilm-l6'))))")
    written = [subprocess.run([sys.executable, "-c", script], env=child_env(PYTHONHASHSEED=seed), check=True,
                              capture_output=True, text=True).stdout for seed in ("1", "2")]
    assert written[0] == written[1]
    datasets = json.loads(written[0])["training_datasets"]
    assert len(datasets) > 5 and datasets == sorted(datasets)


@pytest.fixture
def trained_be_folder(tmp_path):
    """The packaged MiniLM in a folder with the training state a `be` run leaves."""
    folder = tmp_path / "my-be"
    shutil.copytree(packaged_minilm_path(), folder)
    state_path(folder).parent.mkdir()
    state = {"config": NAMED_RECIPES["be"].config.to_dict(), "data": {}, "packages": {}, "step": 100, "history": []}
    state_path(folder).write_text(json.dumps(state), encoding="utf-8")
    return folder


def test_a_checkpoint_folder_we_trained_carries_its_recipe_name_and_training_data(trained_be_folder):
    from hyperret_eval.integrations.mteb_loader import load_for_mteb

    resolved = resolve_model(str(trained_be_folder))
    assert resolved.mteb_name == "hyperret/be-minilm-l6"
    meta = load_for_mteb(resolved, "cpu").mteb_model_meta
    assert meta.name == "hyperret/be-minilm-l6" and meta.revision == resolved.revision
    assert "SciFact" in meta.training_datasets and not meta.is_zero_shot_on(["SciFact"])
    assert meta.adapted_from == MINILM_HUB_ID


def test_a_model_folder_without_training_state_keeps_its_folder_name(tmp_path):
    folder = tmp_path / "someone-elses-model"
    shutil.copytree(packaged_minilm_path(), folder)
    resolved = resolve_model(str(folder))
    assert resolved.mteb_name == "local/someone-elses-model" and resolved.training_datasets is None


@pytest.mark.parametrize("state, problem", [
    ('{"step": 3}', "has no `config` mapping"),
    ('{"config": {"qnet_layers": "two"}}', "qnet_layers = 'two' (expected int)"),
    ('{"config": {"recipe_of_someone_else": 1}}', "unknown training setting(s) recipe_of_someone_else"),
    ("{not json", "not valid JSON"),
])
def test_a_broken_training_state_is_named_in_the_error(trained_be_folder, state, problem):
    state_path(trained_be_folder).write_text(state, encoding="utf-8")
    with pytest.raises(UserError) as error:
        resolve_model(str(trained_be_folder))
    assert str(state_path(trained_be_folder)) in str(error.value) and problem in str(error.value)


def test_every_named_recipe_is_in_mteb_registry():
    import mteb

    import hyperret_eval  # noqa: F401  (registers the models with mteb)

    for recipe in NAMED_RECIPES.values():
        assert mteb.get_model_meta(f"hyperret/{recipe.config.name}").loader is not None


def _fake_trained_checkpoint(config, data_root):
    """The packaged MiniLM where the checkpoint of ``config`` on ``data_root`` belongs,
    marked complete: what loading needs of a trained checkpoint, without training."""
    from hyperret_eval.catalogue.checkpoints import locate_checkpoint

    checkpoint = locate_checkpoint(config, data_root)
    shutil.copytree(packaged_minilm_path(), checkpoint.path)
    state_path(checkpoint.path).parent.mkdir()
    state = {"config": config.to_dict(), "step": config.max_steps, "history": []}
    state_path(checkpoint.path).write_text(json.dumps(state), encoding="utf-8")
    return checkpoint


def test_load_model_takes_recipe_files_folders_and_a_data_root(trained_be_folder, train_root, tmp_path, monkeypatch):
    import hyperret_eval

    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HYPERRET_DATA", raising=False)
    recipe_file = tmp_path / "be-50.toml"
    recipe_file.write_text('recipe = "be"\nname = "be-50steps-minilm-l6"\nmax_steps = 50\n', encoding="utf-8")
    with pytest.raises(UserError) as error:  # no data root given: the default holds no SciFact
        hyperret_eval.load_model(str(recipe_file), device="cpu")
    assert "data_root=" in str(error.value) and "HYPERRET_DATA" in str(error.value)
    with pytest.raises(UserError) as error:  # the data root given, the checkpoint not trained
        hyperret_eval.load_model(str(recipe_file), device="cpu", data_root=str(train_root))
    assert "train_missing=True" in str(error.value) and "hyperret-eval train" in str(error.value)

    from hyperret_eval.catalogue.recipe_files import load_recipe_file

    checkpoint = _fake_trained_checkpoint(load_recipe_file(recipe_file), train_root)
    model = hyperret_eval.load_model(str(recipe_file), device="cpu", data_root=str(train_root))
    assert model.mteb_model_meta.name == "hyperret/be-50steps-minilm-l6"
    assert model.mteb_model_meta.revision == checkpoint.fingerprint
    by_folder = hyperret_eval.load_model(str(trained_be_folder), device="cpu")
    assert by_folder.mteb_model_meta.name == "hyperret/be-minilm-l6"
    # A recipe file's model is not in mteb's registry: its size comes from the weights and
    # its paper from what the recipe trains (BE: the Hypencoder paper's baseline), so the
    # leaderboard can show them.
    assert model.mteb_model_meta.n_parameters == 22_713_216
    assert model.mteb_model_meta.reference == by_folder.mteb_model_meta.reference == "https://arxiv.org/abs/2502.05364"


def test_a_hypencoder_is_described_with_its_parameter_count():
    from hyperret_eval.integrations.mteb_loader import load_for_mteb
    from hyperret_eval.models.hypencoder import Hypencoder

    resolved = resolve_model(str(official_hypencoder()))
    meta = load_for_mteb(resolved, "cpu").mteb_model_meta
    expected = sum(p.numel() for p in Hypencoder.from_pretrained(official_hypencoder()).parameters())
    assert meta.n_parameters == expected > 0
    assert meta.reference is None  # a folder of unknown origin: no paper is claimed for it


def test_mteb_get_model_refuses_arguments_it_would_file_as_an_experiment():
    import mteb

    import hyperret_eval  # noqa: F401

    with pytest.raises(UserError, match=r"takes no data_root.*hyperret_eval.load_model\('be', data_root=...\)"):
        mteb.get_model("hyperret/be-minilm-l6", device="cpu", data_root="/data")


@pytest.mark.slow
def test_mteb_cli_through_hyperret_mteb_knows_our_models(data_root, tmp_path):
    """mteb's own `run` resolves hyperret/... in our registry (it would look on the hub
    otherwise) and says how to train a checkpoint that is missing, in one line."""
    done = subprocess.run([sys.executable, "-m", "hyperret_eval.mteb_cli", "run", "-m", "hyperret/hicl-minilm-l6",
                           "-t", "STS12", "--output-folder", str(tmp_path / "results")], cwd=REPO,
                          env=child_env(HYPERRET_CACHE=str(tmp_path / "cache"), HYPERRET_DATA=str(data_root)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("hyperret-mteb: error: 'hicl' has no complete trained checkpoint") and "Traceback" not in done.stderr
    assert f"hyperret-eval train hicl --data-root {data_root}" in last


def test_each_recipe_cites_the_paper_of_what_it_trains():
    """BE and SimCSE are not HiCL: each named recipe's metadata cites its own paper."""
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES, paper_of
    from hyperret_eval.integrations.mteb_models import MODEL_METAS

    papers = {key: paper_of(recipe.config) for key, recipe in NAMED_RECIPES.items()}
    assert papers["hicl"] == "https://arxiv.org/abs/2310.09720"
    assert papers["simcse"] == "https://arxiv.org/abs/2104.08821"
    assert papers["be"] == papers["hypencoder"] == papers["hypencoder-8layer"] == "https://arxiv.org/abs/2502.05364"
    for key, meta in MODEL_METAS.items():
        assert meta.reference == papers[key], key
        assert meta.citation and ("SimCSE" in meta.citation) == (key == "simcse"), key


def test_a_recipe_that_keeps_a_name_but_changes_a_setting_is_not_described_as_the_named_one():
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES, in_mteb

    hicl = NAMED_RECIPES["hicl"].config
    assert in_mteb(hicl) and in_mteb(hicl.replace(save_every=7))
    assert not in_mteb(hicl.replace(backbone="sentence-transformers/all-mpnet-base-v2"))
    assert not in_mteb(hicl.replace(max_steps=5))
