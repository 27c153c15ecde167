"""Where `run` writes and what it redoes: a user folder by default (never the working
directory), a finished model x task skipped unless --overwrite, and a result computed on
other data never reused."""

from __future__ import annotations

import json

import pytest

from hyperret_eval.cli import main

RESULT = "sentence-transformers__all-MiniLM-L6-v2"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HYPERRET_RESULTS", raising=False)
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return tmp_path / "cache"


def _sts12_result(results):
    (path,) = (results / RESULT).glob("*/STS12.json")
    return path


@pytest.mark.slow
def test_results_go_to_the_user_folder_and_finished_tasks_are_skipped(capsys, user_cache, small_data_root):
    import mteb

    run = ("run", "--tasks", "STS12", "--models", "minilm", "--data-root", small_data_root, "--no-senteval")
    code, out, err = _run(capsys, *run)
    assert code == 0, err
    results = user_cache / "results"
    assert list((user_cache.parent / "checkout").iterdir()) == []  # nothing in the working directory
    assert f"Results written under {results}" in out
    first = _sts12_result(results).read_bytes()
    loaded = mteb.ResultCache(cache_path=user_cache).load_results(include_remote=False)
    assert [r.task_name for r in loaded.model_results[0].task_results] == ["STS12"]

    code, out, err = _run(capsys, *run)
    assert code == 0, err
    assert "Skipping minilm on STS12: its result is in" in out and "Loading model" not in out
    assert _sts12_result(results).read_bytes() == first
    score = 100 * json.loads(first)["scores"]["test"][0]["main_score"]
    assert f"{score:.2f}" in out  # the table still shows the kept score

    code, out, err = _run(capsys, *run, "--overwrite")
    assert code == 0, err
    assert "Skipping" not in out and json.loads(_sts12_result(results).read_bytes())["date"] != json.loads(first)["date"]


@pytest.mark.slow
def test_a_result_on_other_data_or_without_per_query_values_is_evaluated_again(capsys, user_cache, small_data_root,
                                                                                tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERRET_RESULTS", str(tmp_path / "mine"))
    run = ("run", "--tasks", "STS12", "--models", "minilm", "--data-root", small_data_root, "--no-senteval")
    assert _run(capsys, *run)[0] == 0
    path = _sts12_result(tmp_path / "mine")
    body = json.loads(path.read_text())
    body["dataset_revision"] = body["hyperret"]["data_revision"] = "000000000000"  # computed on other data
    path.write_text(json.dumps(body))
    code, out, err = _run(capsys, *run)
    assert code == 0, err
    assert "Skipping" not in out
    assert json.loads(path.read_text())["dataset_revision"] != "000000000000"
    assert not (user_cache / "results").exists()  # $HYPERRET_RESULTS took the place of the default

    (path.parent / "per_query" / "STS12.json").unlink()  # a result written before per-query files
    code, out, err = _run(capsys, *run)
    assert code == 0 and "Skipping" not in out, err
    assert (path.parent / "per_query" / "STS12.json").is_file()


@pytest.mark.slow
def test_saved_predictions_are_trec_files_that_ir_measures_and_ranx_score_alike(capsys, user_cache, small_data_root):
    import ir_measures
    from ranx import Qrels, Run, evaluate

    code, _, err = _run(capsys, "run", "--tasks", "SciFact", "--models", "minilm", "--data-root", small_data_root,
                        "--save-predictions")
    assert code == 0, err
    (folder,) = (user_cache / "results" / RESULT).iterdir()
    run_file, qrels_file = folder / "predictions" / "SciFact.test.trec", folder / "predictions" / "SciFact.test.qrels"
    lines = [line.split() for line in run_file.read_text().splitlines()]
    assert {line[5] for line in lines} == {f"{RESULT}@{folder.name}"}
    by_query: dict[str, list[int]] = {}
    for query, _, _, rank, _, _ in lines:
        by_query.setdefault(query, []).append(int(rank))
    assert all(ranks == list(range(1, len(ranks) + 1)) for ranks in by_query.values())  # trec_eval's ranks

    qrels = list(ir_measures.read_trec_qrels(str(qrels_file)))
    judged = (small_data_root / "beir" / "scifact" / "qrels" / "test.tsv").read_text().splitlines()[1:]
    assert sorted((q.query_id, q.doc_id, q.relevance) for q in qrels) == sorted(
        (query, document, int(relevance)) for query, document, relevance in (row.split("\t") for row in judged))
    recorded = json.loads((folder / "SciFact.json").read_text())["scores"]["test"][0]["ir_measures:nDCG@10"]
    ndcg = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, ir_measures.read_trec_run(str(run_file)))
    assert ndcg[ir_measures.nDCG @ 10] == pytest.approx(recorded, abs=1e-6)

    ranx_qrels = Qrels.from_file(str(qrels_file), kind="trec")
    assert evaluate(ranx_qrels, Run.from_file(str(run_file), kind="trec"), "ndcg@10") == pytest.approx(recorded, abs=1e-6)
    mteb_run = json.loads((folder / "predictions" / "SciFact_predictions.json").read_text())["default"]["test"]
    assert evaluate(ranx_qrels, Run.from_dict(mteb_run), "ndcg@10") == pytest.approx(recorded, abs=1e-6)
