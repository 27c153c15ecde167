"""mteb's Python API on local data: the tasks `run` evaluates, as mteb task objects read
from a data root, score under ``mteb.evaluate`` what `run` wrote; a model folder loads
through ``hyperret-mteb run -m``, and ``mteb.get_model`` answers a folder with where to go."""

from __future__ import annotations

import json
import sys

import mteb
import pytest

import hyperret_eval
from hyperret_eval.integrations.mteb_models import NotAnMtebModelName
from hyperret_eval.models.backbones import packaged_minilm_path


def _run_scores(results) -> dict[str, dict]:
    """Task name -> the test split's scores that `run` wrote."""
    return {path.stem: json.loads(path.read_text())
            for path in results.glob("sentence-transformers__all-MiniLM-L6-v2/*/*.json") if path.stem != "model_meta"}


@pytest.mark.slow
def test_mteb_evaluate_on_tasks_from_a_data_root_equals_run(minilm_run_results):
    data_root = minilm_run_results.parent / "data"
    tasks = hyperret_eval.get_tasks(["STS12", "SciFact"], data_root=data_root)
    assert [type(task).__mro__[1].__name__ for task in tasks] == ["CatalogueSTSTask", "CatalogueRetrievalTask"]
    model = hyperret_eval.load_model("minilm", device="cpu")
    evaluated = mteb.evaluate(model, tasks, cache=None, show_progress_bar=False)
    written = _run_scores(minilm_run_results)
    for result in evaluated.task_results:
        ours = written[result.task_name]
        assert result.dataset_revision == ours["dataset_revision"]
        assert result.get_score() == pytest.approx(ours["scores"]["test"][0]["main_score"], abs=1e-6)
        for metric in ("cosine_pearson", "ndcg_at_10", "ir_measures:AP"):
            if metric in ours["scores"]["test"][0]:
                assert result.scores["test"][0][metric] == pytest.approx(ours["scores"]["test"][0][metric], abs=1e-6)


def test_a_folder_of_ones_own_is_a_task_named_after_it(small_data_root):
    (task,) = hyperret_eval.get_tasks(str(small_data_root / "beir" / "scifact"))
    assert task.metadata.name == "scifact" and task.metadata.main_score == "ndcg_at_10"
    assert task.metadata.dataset["path"] == str(small_data_root / "beir" / "scifact")


def test_mteb_get_model_on_a_folder_says_where_to_go(tmp_path):
    with pytest.raises(NotAnMtebModelName, match=r"has no hook.*hyperret_eval\.load_model\(.*hyperret-mteb run -m"):
        mteb.get_model(str(tmp_path))
    with pytest.raises(NotImplementedError):  # what mteb itself would raise, for code that catches it
        mteb.get_model(str(tmp_path))


@pytest.mark.slow
def test_hyperret_mteb_runs_a_model_folder(small_data_root, tmp_path, monkeypatch):
    """mteb's own `run`, through hyperret-mteb: the folder is loaded by us and evaluated
    by mteb. mteb's tasks read the hub (offline here): the local STS12 stands in."""
    from hyperret_eval import mteb_cli

    folder = str(packaged_minilm_path())
    local = hyperret_eval.get_tasks("STS12", data_root=small_data_root)
    monkeypatch.setattr(mteb, "get_tasks", lambda **selection: local if selection["tasks"] == ["STS12"] else [])
    monkeypatch.setattr(sys, "argv", ["hyperret-mteb", "run", "-m", folder, "-t", "STS12",
                                      "--output-folder", str(tmp_path / "out")])
    assert mteb_cli.main() == 0
    (result,) = (tmp_path / "out").glob("results/local__model/*/STS12.json")
    reference = mteb.evaluate(hyperret_eval.load_model(folder, device="cpu"), local, cache=None,
                              show_progress_bar=False).task_results[0]
    assert json.loads(result.read_text())["scores"]["test"][0]["main_score"] == pytest.approx(reference.get_score())
