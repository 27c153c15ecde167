"""What our models' mteb metadata says they were trained on and from: the tasks whose data
a recipe reads, joined with those of the backbone mteb knows, so mteb's zero-shot flag is
right for the tasks we report; and a checkpoint we trained keeps its recipe's name when
loaded from its folder."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from hyperret_eval.catalogue.models import resolve_model
from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.catalogue.tasks import tasks_reading
from hyperret_eval.core.errors import UserError
from hyperret_eval.models.backbones import MINILM_HUB_ID, packaged_minilm_path
from hyperret_eval.models.training_state import state_path


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
