"""`hyperret-eval publish` end to end, in process: result files of a real run go in; the
leaderboard folder (leaderboard.json, README.md, index.html, MTEB results copy) comes out,
or, for any invalid input, an error naming the file and a folder left as it was."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import mteb
import pytest

from .leaderboard_inputs import (
    MINILM_NAME, MINILM_REVISION, copy_results, derive_model, main_score, minilm_folder, publish, read_json,
    set_main_score, snapshot, write_json,
)

HICL = ("hyperret__hicl-minilm-l6", "hyperret/hicl-minilm-l6", "0123456789ab")


@pytest.fixture
def results(minilm_run_results, tmp_path) -> Path:
    """The real run's results plus a recipe-trained model, in a folder the test may change."""
    folder = copy_results(minilm_run_results, tmp_path / "results")
    derive_model(folder, *HICL, source="recipe", score_shift=0.01, tasks=("STS12",))
    return folder


@pytest.fixture
def published(capsys, results, tmp_path) -> Path:
    """A leaderboard folder into which ``results`` were published once."""
    board = tmp_path / "leaderboard"
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0, err
    return board


@pytest.mark.slow
def test_publish_writes_leaderboard_json_readme_and_page(capsys, results, tmp_path):
    board = tmp_path / "leaderboard"
    code, out, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0, err
    assert "3 added, 0 reproduced, 0 unchanged, 0 replaced" in out
    assert {"leaderboard.json", "README.md", "index.html"} <= {p.name for p in board.iterdir()}

    minilm_sts12 = main_score(minilm_folder(results) / "STS12.json")
    minilm_scifact = main_score(minilm_folder(results) / "SciFact.json")
    hicl_sts12 = main_score(results / HICL[0] / HICL[2] / "STS12.json")
    board_json = read_json(board / "leaderboard.json")
    entries = {(e["model"], e["revision"], e["task"]): e for e in board_json["entries"]}
    assert set(entries) == {(MINILM_NAME, MINILM_REVISION, "STS12"), (MINILM_NAME, MINILM_REVISION, "SciFact"),
                            (HICL[1], HICL[2], "STS12")}
    sts12 = entries[(MINILM_NAME, MINILM_REVISION, "STS12")]
    assert sts12["main_score"] == minilm_sts12 and sts12["task_type"] == "STS"
    assert sts12["metrics"]["cosine_spearman"] == minilm_sts12
    scifact = entries[(MINILM_NAME, MINILM_REVISION, "SciFact")]
    assert scifact["main_score"] == minilm_scifact and scifact["main_metric"] == "ndcg_at_10"
    assert scifact["metrics"]["ir_measures:nDCG@10"] == pytest.approx(minilm_scifact, abs=5e-5)

    # Provenance: the run's command, versions, hardware and manifest, and a recipe model's recipe.
    (manifest,) = (results / "runs").iterdir()
    run = sts12["provenance"]["run"]
    assert run["manifest"] == f"runs/{manifest.name}"
    assert run["command"].startswith("hyperret-eval run --tasks STS12,SciFact")
    assert run["packages"]["mteb"] == mteb.__version__ and run["device"]["device"] == "cpu"
    assert sts12["dataset_revision"] == read_json(minilm_folder(results) / "STS12.json")["dataset_revision"]
    assert sts12["provenance"]["source"] == "packaged" and sts12["provenance"]["checkpoint"] is None
    hicl = entries[(HICL[1], HICL[2], "STS12")]["provenance"]
    assert hicl["checkpoint"] == {"fingerprint": HICL[2], "recipe": {"name": "hicl-minilm-l6", "alpha": 0.3}}

    readme = (board / "README.md").read_text()
    assert f"| {MINILM_NAME} | {MINILM_REVISION} | {100 * minilm_sts12:.2f} | {100 * minilm_sts12:.2f} |" in readme
    assert f"| {HICL[1]} | {HICL[2]} | {100 * hicl_sts12:.2f} | {100 * hicl_sts12:.2f} |" in readme
    assert f"| {MINILM_NAME} | {MINILM_REVISION} | {100 * minilm_scifact:.2f} | {100 * minilm_scifact:.2f} |" in readme
    assert readme.index("## STS") < readme.index("## Retrieval")
    # Against the baseline (minilm), in points; what its model_meta.json says of each model.
    assert f"| {HICL[1]} | {HICL[2]} | {100 * (hicl_sts12 - minilm_sts12):+.2f} |" in readme
    meta = read_json(minilm_folder(results) / "model_meta.json")
    assert f"| {MINILM_NAME} | {MINILM_REVISION} | 22.7M | none | {meta['reference']} |" in readme
    assert "No search benchmark has been published yet." in readme

    page = (board / "index.html").read_text()
    assert f">{100 * minilm_sts12:.2f}</td>" in page and f">{100 * minilm_scifact:.2f}</td>" in page
    assert 'id="board-STS"' in page and 'id="board-Retrieval"' in page
    assert "No search benchmark has been published yet" in page
    # No address but the SVG namespace and links to a model's own reference: following one
    # is a reader's choice, the page itself fetches nothing.
    links = re.findall(r'<a class="reference" href="([^"]*)" rel="external noreferrer noopener">\1</a>', page)
    assert set(links) == {meta["reference"]}
    unlinked = re.sub(r'<a class="reference" [^>]*>[^<]*</a>', "", page).replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in unlinked and "https://" not in unlinked


def test_republishing_the_same_run_changes_nothing(capsys, results, published):
    before = snapshot(published)
    code, out, err = publish(capsys, results, "--leaderboard", published)
    assert code == 0, err
    assert "0 added, 0 reproduced, 3 unchanged, 0 replaced" in out and "already up to date" in out
    assert snapshot(published) == before


def test_a_different_run_for_a_published_key_needs_replace(capsys, results, published):
    result_file = minilm_folder(results) / "STS12.json"
    body = read_json(result_file)
    body["hyperret"]["run"].update(manifest="runs/20991231T000000000000Z.json", started_at="2099-12-31T00:00:00+00:00")
    body["scores"]["test"][0]["main_score"] = 0.5
    write_json(result_file, body)
    before = snapshot(published)

    code, _, err = publish(capsys, results, "--leaderboard", published)
    assert code == 2
    assert str(result_file) in err and "already published" in err and "--replace" in err
    assert "runs/20991231T000000000000Z.json" in err and "differs (beyond 0.0001) in main_score " in err and "-> 0.5" in err
    assert snapshot(published) == before

    code, out, err = publish(capsys, results, "--leaderboard", published, "--replace")
    assert code == 0, err
    assert "0 added, 0 reproduced, 2 unchanged, 1 replaced" in out
    entries = read_json(published / "leaderboard.json")["entries"]
    (sts12,) = [e for e in entries if e["model"] == MINILM_NAME and e["task"] == "STS12"]
    assert sts12["main_score"] == 0.5
    assert sts12["provenance"]["run"]["started_at"] == "2099-12-31T00:00:00+00:00"
    exported = published / "results" / "sentence-transformers__all-MiniLM-L6-v2" / MINILM_REVISION / "STS12.json"
    assert exported.read_bytes() == result_file.read_bytes()


def test_a_conflict_names_the_metric_that_differs(capsys, results, published):
    """A secondary metric beyond the tolerance: the message says which metric keeps the
    run from being a reproduction, and by how much."""
    result_file = minilm_folder(results) / "STS12.json"
    body = read_json(result_file)
    body["hyperret"]["run"].update(manifest="runs/20991231T000000000000Z.json", started_at="2099-12-31T00:00:00+00:00")
    spearman = body["scores"]["test"][0]["spearman"]
    body["scores"]["test"][0]["spearman"] = spearman + 1.5e-3
    write_json(result_file, body)

    code, _, err = publish(capsys, results, "--leaderboard", published)
    assert code == 2 and f"differs (beyond 0.0001) in spearman {spearman!r} -> {spearman + 1.5e-3!r}." in err, err


@pytest.mark.slow
def test_a_rerun_within_the_tolerance_is_a_reproduction_with_both_values(capsys, results, published):
    """The main score the same and a secondary metric 2e-5 off (one thread against two):
    recorded as a reproduction, its own values beside the published ones, with or without --replace."""
    result_file = minilm_folder(results) / "STS12.json"
    body = read_json(result_file)
    body["hyperret"]["run"].update(manifest="runs/20991231T000000000000Z.json", started_at="2099-12-31T00:00:00+00:00")
    pearson = body["scores"]["test"][0]["cosine_pearson"]
    body["scores"]["test"][0]["cosine_pearson"] = pearson + 2e-5
    write_json(result_file, body)

    code, out, err = publish(capsys, results, "--leaderboard", published, "--replace")
    assert code == 0 and "0 added, 1 reproduced, 2 unchanged, 0 replaced" in out, err
    (sts12,) = [e for e in read_json(published / "leaderboard.json")["entries"]
                if e["model"] == MINILM_NAME and e["task"] == "STS12"]
    assert sts12["metrics"]["cosine_pearson"] == pearson  # the published value stays
    (again,) = sts12["provenance"]["reproductions"]
    assert again["scores"]["metrics"]["cosine_pearson"] == pearson + 2e-5
    assert again["scores"]["main_score"] == sts12["main_score"]
    before = snapshot(published)
    code, out, err = publish(capsys, results, "--leaderboard", published)
    assert code == 0 and "0 added, 0 reproduced, 3 unchanged" in out, err
    assert snapshot(published) == before


def test_the_same_scores_from_another_run_are_recorded_as_a_reproduction(capsys, results, published):
    result_file = minilm_folder(results) / "STS12.json"
    body = read_json(result_file)
    original_run = dict(body["hyperret"]["run"])
    body["hyperret"]["run"].update(manifest="runs/20991231T000000000000Z.json", started_at="2099-12-31T00:00:00+00:00")
    body["evaluation_time"] = body["evaluation_time"] + 7.5
    write_json(result_file, body)

    code, out, err = publish(capsys, results, "--leaderboard", published)
    assert code == 0, err
    assert "0 added, 1 reproduced, 2 unchanged, 0 replaced" in out
    entries = read_json(published / "leaderboard.json")["entries"]
    (sts12,) = [e for e in entries if e["model"] == MINILM_NAME and e["task"] == "STS12"]
    assert sts12["provenance"]["run"]["manifest"] == original_run["manifest"]  # the first run stays the source
    (again,) = sts12["provenance"]["reproductions"]
    assert again["manifest"] == "runs/20991231T000000000000Z.json" and again["started_at"].startswith("2099")

    before = snapshot(published)
    code, out, err = publish(capsys, results, "--leaderboard", published)
    assert code == 0 and "0 added, 0 reproduced, 3 unchanged" in out, err
    assert snapshot(published) == before


def test_a_reproduction_refreshes_the_published_model_description(capsys, results, published):
    """A model's declared training data corrected after it was published (the scores the
    same): publishing its re-run replaces the published model_meta.json and what the
    tables say it was trained on."""
    meta_file = results / HICL[0] / HICL[2] / "model_meta.json"
    result_file = results / HICL[0] / HICL[2] / "STS12.json"
    assert _trained_on(published, HICL) == "none"
    write_json(meta_file, {**read_json(meta_file), "training_datasets": ["STS12"]})
    body = read_json(result_file)
    body["hyperret"]["run"].update(manifest="runs/20991231T000000000000Z.json", started_at="2099-12-31T00:00:00+00:00")
    write_json(result_file, body)

    code, out, err = publish(capsys, results, "--leaderboard", published)
    assert code == 0 and "0 added, 1 reproduced, 2 unchanged" in out, err
    assert (published / "results" / HICL[0] / HICL[2] / "model_meta.json").read_bytes() == meta_file.read_bytes()
    assert _trained_on(published, HICL) == "STS12"

    # An older run of the same scores, published later, is a reproduction too, but the
    # description of the newest run stays.
    write_json(meta_file, {**read_json(meta_file), "training_datasets": []})
    body["hyperret"]["run"].update(manifest="runs/20991230T000000000000Z.json", started_at="2099-12-30T00:00:00+00:00")
    write_json(result_file, body)
    code, out, err = publish(capsys, results, "--leaderboard", published)
    assert code == 0 and "0 added, 1 reproduced, 2 unchanged" in out, err
    assert _trained_on(published, HICL) == "STS12"


@pytest.mark.slow
def test_the_zero_shot_line_reads_the_declared_training_data_on_tasks_not_evaluated(capsys, results, tmp_path):
    """A model evaluated on one task of a table of two: its declared training data still
    answers for the other, and its details show the settings it was trained with."""
    body = read_json(minilm_folder(results) / "STS12.json")
    write_json(minilm_folder(results) / "STS13.json", {**body, "task_name": "STS13"})
    meta_file = results / HICL[0] / HICL[2] / "model_meta.json"
    write_json(meta_file, {**read_json(meta_file), "training_datasets": ["STS13"]})
    board = tmp_path / "leaderboard"
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0, err
    page = (board / "index.html").read_text()
    assert "<dt>Zero-shot</dt><dd>no: trained on STS13</dd>" in page
    assert "unknown: the model declares no training data" not in page
    assert "&quot;alpha&quot;: 0.3" in page  # the recipe's settings, in the details


def _trained_on(board: Path, model: tuple[str, str, str]) -> str:
    """The "Trained on (of its tasks)" cell of the model's row in the published Markdown."""
    prefix = f"| {model[1]} | {model[2]} |"
    (row,) = [line for line in (board / "README.md").read_text(encoding="utf-8").splitlines()
              if line.startswith(prefix) and line.count("|") == 6]
    return row.split("|")[4].strip()


def test_a_result_published_before_per_query_files_gains_its_file(capsys, results, published):
    board_copy = published / "results" / "sentence-transformers__all-MiniLM-L6-v2" / MINILM_REVISION / "per_query"
    assert (board_copy / "SciFact.json").is_file()
    shutil.rmtree(board_copy)  # as a leaderboard published before runs kept per-query files
    code, out, err = publish(capsys, results, "--leaderboard", published)
    assert code == 0 and "0 added, 0 reproduced, 3 unchanged" in out and "updated" in out, err
    assert (board_copy / "SciFact.json").read_bytes() == (minilm_folder(results) / "per_query" / "SciFact.json").read_bytes()


def _per_query_of(folder: Path, task: str) -> Path:
    return folder / "per_query" / f"{task}.json"


@pytest.mark.slow
def test_differences_to_the_baseline_are_tested_on_paired_items(capsys, minilm_run_results, tmp_path):
    """A model whose every SciFact query loses 0.3 nDCG@10 differs significantly from the
    baseline; one with no per-query values is compared untested; the per-query files are
    published with the results."""
    results = copy_results(minilm_run_results, tmp_path / "results")
    base = read_json(_per_query_of(minilm_folder(results), "SciFact"))
    measure = base["main_measure"]
    lost = {query: {**values, measure: max(0.0, values[measure] - 0.3)} for query, values in base["queries"].items()}
    shift = sum(v[measure] for v in lost.values()) / len(lost) - sum(v[measure] for v in base["queries"].values()) / len(lost)
    worse = derive_model(results, "org__worse", "org/worse", "w1", score_shift=shift, tasks=("SciFact",))
    _per_query_of(worse, "SciFact").parent.mkdir()
    write_json(_per_query_of(worse, "SciFact"), {**base, "model_name": "org/worse", "model_revision": "w1",
                                                 "queries": lost})
    same = derive_model(results, "org__same", "org/same", "s1", tasks=("STS12",))
    _per_query_of(same, "STS12").parent.mkdir()
    write_json(_per_query_of(same, "STS12"), read_json(_per_query_of(minilm_folder(results), "STS12")))
    derive_model(results, "org__untested", "org/untested", "u1", score_shift=0.01, tasks=("SciFact",))

    board = tmp_path / "leaderboard"
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0, err
    comparisons = {(c["model"], c["task"]): c for c in read_json(board / "leaderboard.json")["comparisons"]}
    scifact = comparisons[("org/worse", "SciFact")]
    assert scifact["baseline"] == f"{MINILM_NAME}@{MINILM_REVISION}" and scifact["significant"] is True
    assert scifact["low"] < scifact["high"] < 0 and scifact["p_holm"] < 0.05
    assert scifact["test"].startswith(f"paired t-test over {len(lost)} queries")
    identical = comparisons[("org/same", "STS12")]  # the same similarities: no difference at all
    assert identical["difference"] == 0.0 and identical["significant"] is False and identical["p_value"] == 1.0
    assert identical["test"].startswith("paired bootstrap over")
    assert comparisons[("org/untested", "SciFact")]["untested"] == "the result has no per-query values"
    assert (board / "results" / "org__worse" / "w1" / "per_query" / "SciFact.json").is_file()

    readme = (board / "README.md").read_text()
    assert f"{100 * scifact['difference']:+.2f}\\* [{100 * scifact['low']:+.2f}, {100 * scifact['high']:+.2f}]" in readme
    page = (board / "index.html").read_text()
    assert 'class="difference significant"' in page and "95% interval" in page


@pytest.mark.slow
def test_a_result_of_a_users_own_task_is_skipped_with_one_line_and_the_rest_lands(capsys, results, tmp_path):
    """A folder of one's own (``--tasks ./scifact300``) has no table on the leaderboard."""
    body = read_json(minilm_folder(results) / "SciFact.json")
    write_json(minilm_folder(results) / "scifact300.json", {**body, "task_name": "scifact300"})
    board = tmp_path / "leaderboard"
    code, out, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0, err
    assert "3 added, 0 reproduced, 0 unchanged, 0 replaced" in out
    (line,) = [line for line in out.splitlines() if "skipped" in line]
    assert "scifact300.json: task 'scifact300' is not in the catalogue" in line and "not published" in line
    assert "scifact300" not in (board / "leaderboard.json").read_text()


def _bad_json(folder: Path) -> tuple[Path, str]:
    path = folder / "STS12.json"
    path.write_text('{\n  "task_name": "STS12",\n  "scores": {,\n}\n', encoding="utf-8")
    return path, "line 3"


def _score_out_of_range(folder: Path) -> tuple[Path, str]:
    set_main_score(folder / "SciFact.json", 64.5)
    return folder / "SciFact.json", "main_score 64.5 is outside [0, 1]"


def _score_nan(folder: Path) -> tuple[Path, str]:
    set_main_score(folder / "STS12.json", math.nan)
    return folder / "STS12.json", "not a finite number"


def _score_not_a_number(folder: Path) -> tuple[Path, str]:
    set_main_score(folder / "STS12.json", "0.7")
    return folder / "STS12.json", "main_score '0.7' is not a number"


def _no_provenance(folder: Path) -> tuple[Path, str]:
    body = read_json(folder / "SciFact.json")
    del body["hyperret"]
    write_json(folder / "SciFact.json", body)
    return folder / "SciFact.json", "no provenance"


def _recipe_without_fingerprint(folder: Path) -> tuple[Path, str]:
    body = read_json(folder / "STS12.json")
    body["hyperret"]["source"] = "recipe"
    body["hyperret"]["checkpoint"] = {"recipe": {"name": "hicl-minilm-l6"}}
    write_json(folder / "STS12.json", body)
    return folder / "STS12.json", "no checkpoint fingerprint"


def _no_model_meta(folder: Path) -> tuple[Path, str]:
    (folder / "model_meta.json").unlink()
    return folder / "SciFact.json", "no model_meta.json"


def _not_a_task_result(folder: Path) -> tuple[Path, str]:
    body = read_json(folder / "STS12.json")
    del body["dataset_revision"]
    write_json(folder / "STS12.json", body)
    return folder / "STS12.json", "not an mteb TaskResult: dataset_revision: Field required"


@pytest.mark.parametrize("damage", [
    _bad_json, _score_out_of_range, _score_nan, _score_not_a_number, _no_provenance,
    _recipe_without_fingerprint, _no_model_meta, _not_a_task_result,
])
def test_an_invalid_result_file_is_refused_and_nothing_changes(capsys, results, published, damage):
    before = snapshot(published)
    bad_file, problem = damage(minilm_folder(results))
    code, out, err = publish(capsys, results, "--leaderboard", published)
    assert code == 2 and "Traceback" not in err
    assert "nothing was published" in err
    assert any(str(bad_file) in line and problem in line for line in err.splitlines()), err
    assert snapshot(published) == before


def test_every_problem_is_reported_at_once(capsys, results, tmp_path):
    board = tmp_path / "leaderboard"
    set_main_score(minilm_folder(results) / "SciFact.json", -0.2)
    body = read_json(minilm_folder(results) / "STS12.json")
    del body["hyperret"]
    write_json(minilm_folder(results) / "STS12.json", body)
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 2
    assert "2 of 3 result files are not valid" in err
    assert "SciFact.json: scores.test subset 'default': main_score -0.2 is outside [0, 1]" in err
    assert "STS12.json: no provenance" in err
    assert not board.exists()


def test_missing_results_folder(capsys, tmp_path):
    code, _, err = publish(capsys, tmp_path / "nowhere", "--leaderboard", tmp_path / "board")
    assert code == 2 and "nowhere: no such results folder" in err
    assert not (tmp_path / "board").exists()


def test_a_damaged_leaderboard_json_is_reported_not_overwritten(capsys, results, published):
    (published / "leaderboard.json").write_text('{"format": 1, "entries": [\n  {"model": }\n]}\n', encoding="utf-8")
    before = snapshot(published)
    code, _, err = publish(capsys, results, "--leaderboard", published)
    assert code == 2 and f"{published / 'leaderboard.json'}, line 2, column 13: the leaderboard (fix or remove it) is not valid JSON" in err
    assert snapshot(published) == before


def test_names_are_escaped_in_markdown_and_html(capsys, results, tmp_path):
    evil = "<script>alert(1)</script>"
    derive_model(results, "<script>alert(1)<__script>", evil, "rev1", score_shift=-0.05)  # mteb's folder names
    derive_model(results, "org__a|b", "org/a|b", "rev|2", score_shift=-0.02)
    board = tmp_path / "leaderboard"
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0, err

    readme = (board / "README.md").read_text()
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; | rev1 |" in readme
    assert "| org/a\\|b | rev\\|2 |" in readme
    assert "<script" not in readme

    page = (board / "index.html").read_text()
    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 2  # the page's own data element and script, nothing else
    (data_text,) = re.findall(r'<script type="application/json" id="leaderboard-data">(.*?)</script>', page, re.S)
    assert "<" not in data_text and ">" not in data_text and "&" not in data_text
    names = {row["model"] for section in json.loads(data_text)["sections"] for row in section["rows"]}
    assert {evil, "org/a|b", MINILM_NAME} <= names


def test_mteb_reads_the_published_results(published):
    loaded = mteb.ResultCache(cache_path=published).load_results(include_remote=False)
    from_mteb = {(m.model_name, m.model_revision, t.task_name): t.get_score()
                 for m in loaded.model_results for t in m.task_results}
    from_board = {(e["model"], e["revision"], e["task"]): e["main_score"]
                  for e in read_json(published / "leaderboard.json")["entries"]}
    assert len(from_board) == 3
    assert from_mteb == pytest.approx(from_board, abs=0)


BENCHMARKS = {"search_tradeoff": [
    {"corpus": "SciFact", "method": "exhaustive", "settings": "all passages", "queries_per_second": 35.0,
     "recall_at_10": 1.0, "ndcg_at_10": 0.645},
    {"corpus": "SciFact", "method": "graph", "settings": "ef=32", "queries_per_second": 410.5,
     "recall_at_10": 0.93, "ndcg_at_10": 0.631},
]}


def test_benchmarks_are_published_and_shown(capsys, results, tmp_path):
    bench = tmp_path / "bench.json"
    write_json(bench, BENCHMARKS)
    board = tmp_path / "leaderboard"
    code, out, err = publish(capsys, results, "--leaderboard", board, "--benchmarks", bench)
    assert code == 0, err
    assert "search benchmarks added" in out
    assert read_json(board / "benchmarks.json") == BENCHMARKS
    readme = (board / "README.md").read_text()
    assert "| SciFact | graph | ef=32 | 410.5 | 93.00 | 63.10 | yes |" in readme
    page = (board / "index.html").read_text()
    assert 'id="tradeoff-chart"' in page and "No search benchmark" not in page

    # A later publish without --benchmarks keeps them; other benchmarks need --replace.
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0 and read_json(board / "benchmarks.json") == BENCHMARKS
    other = tmp_path / "other.json"
    write_json(other, {"search_tradeoff": BENCHMARKS["search_tradeoff"][:1]})
    before = snapshot(board)
    code, _, err = publish(capsys, results, "--leaderboard", board, "--benchmarks", other)
    assert code == 2 and str(other) in err and "--replace" in err
    assert snapshot(board) == before


def test_invalid_benchmarks_are_refused(capsys, results, tmp_path):
    bench = tmp_path / "bench.json"
    write_json(bench, {"search_tradeoff": [{**BENCHMARKS["search_tradeoff"][0], "method": "hnsw", "recall_at_10": 93}]})
    code, _, err = publish(capsys, results, "--leaderboard", tmp_path / "board", "--benchmarks", bench)
    assert code == 2
    assert f"{bench}: search_tradeoff[0]: method is 'hnsw'" in err and "recall_at_10 93 is not a number in [0, 1]" in err
    assert not (tmp_path / "board").exists()


def test_a_withdrawn_revision_leaves_the_board_and_its_results_copy(capsys, results, published):
    hicl = f"{HICL[1]}@{HICL[2]}"
    before = snapshot(published)
    code, _, err = publish(capsys, results, "--leaderboard", published, "--withdraw", hicl)
    assert code == 2 and f"--withdraw {hicl}: the results being published hold it" in err
    assert snapshot(published) == before, "nothing is withdrawn while the same results are published"

    shutil.rmtree(results / HICL[0])
    code, out, err = publish(capsys, results, "--leaderboard", published, "--withdraw", hicl)
    assert code == 0, err
    assert "0 added, 0 reproduced, 2 unchanged, 0 replaced, 1 withdrawn" in out and f"withdrawn: {hicl}: STS12" in out
    entries = read_json(published / "leaderboard.json")["entries"]
    assert {e["model"] for e in entries} == {MINILM_NAME}
    assert not (published / "results" / HICL[0]).exists()
    assert (published / "results" / minilm_folder(results).parent.name).is_dir()
    assert HICL[1] not in (published / "README.md").read_text() and HICL[1] not in (published / "index.html").read_text()


@pytest.mark.parametrize("argument, message", [
    ("hyperret/unknown@0123", "--withdraw hyperret/unknown@0123: no such model revision is published"),
    ("no-revision", "--withdraw 'no-revision': expected MODEL@REVISION"),
])
def test_withdrawing_what_is_not_there_changes_nothing(capsys, results, published, argument, message):
    before = snapshot(published)
    code, _, err = publish(capsys, results, "--leaderboard", published, "--withdraw", argument)
    assert code == 2 and message in err
    assert snapshot(published) == before


def test_trec_dl_entries_keep_their_binary_metrics(capsys, tmp_path):
    """TREC-DL counts judgements of 2 and above, so ir-measures reports RR(rel=2)@10,
    R(rel=2)@100 and AP(rel=2) for it; the leaderboard asks the metric module for a task's
    measures, and keeps them (it matched the names of relevance 1 as strings, and dropped them)."""
    from tests.conftest import REPO

    source = REPO / "results" / "hyperret__hypencoder-minilm-l6" / "1d05ebd533e9"
    folder = tmp_path / "results" / source.parent.name / source.name
    folder.mkdir(parents=True)
    for name in ("TRECDL2019Subset.json", "model_meta.json"):
        shutil.copyfile(source / name, folder / name)
    code, _, err = publish(capsys, tmp_path / "results", "--leaderboard", tmp_path / "board")
    assert code == 0, err
    (entry,) = read_json(tmp_path / "board" / "leaderboard.json")["entries"]
    scores = read_json(folder / "TRECDL2019Subset.json")["scores"]["test"][0]
    binary = ["ir_measures:RR(rel=2)@10", "ir_measures:R(rel=2)@100", "ir_measures:AP(rel=2)"]
    assert {name: entry["metrics"].get(name) for name in binary} == {name: scores[name] for name in binary}
    assert entry["metrics"]["ir_measures:nDCG@10"] == scores["ir_measures:nDCG@10"]

    # Its 5k-passage corpus makes it incomparable to full TREC-DL figures: said wherever it is shown.
    from hyperret_eval.catalogue.tasks import load_catalogue

    caveat = load_catalogue()["TRECDL2019Subset"].caveat
    assert "not comparable" in caveat
    readme = (tmp_path / "board" / "README.md").read_text()
    assert "| TRECDL2019Subset \u2020 |" in readme and f"\u2020 TRECDL2019Subset: {caveat}" in readme
    page = (tmp_path / "board" / "index.html").read_text()
    assert f'TRECDL2019Subset<sup class="caveat-mark" title="{caveat}">' in page
    assert f"<strong>TRECDL2019Subset</strong>: {caveat}</p>" in page


def _with_meta(folder: Path, **fields) -> None:
    meta = read_json(folder / "model_meta.json")
    write_json(folder / "model_meta.json", {**meta, **fields})


def test_model_facts_come_from_model_meta(capsys, results, tmp_path):
    """Size, zero-shot flag (mteb's) and reference of each model; a reference that is not a
    web address is shown as text, never as a link."""
    trained = derive_model(results, "hyperret__be-minilm-l6", "hyperret/be-minilm-l6", "be1", score_shift=0.02)
    _with_meta(trained, training_datasets=["SciFact"], n_parameters=1_500_000_000, reference="javascript:alert(1)")
    undeclared = derive_model(results, "hyperret__x", "hyperret/x", "x1", tasks=("SciFact",))
    _with_meta(undeclared, training_datasets=None, n_parameters=None)
    board = tmp_path / "leaderboard"
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0, err

    readme = (board / "README.md").read_text()
    assert "| hyperret/be-minilm-l6 | be1 | 1.5B | SciFact | – |" in readme
    assert "| hyperret/x | x1 | – | not declared | " in readme
    page = (board / "index.html").read_text()
    assert 'href="javascript' not in page and "<dd>javascript:alert(1)</dd>" not in page
    (be_row,) = re.findall(r'<tr class="model-row" [^>]*>(?:(?!</tr>).)*hyperret/<wbr>be-minilm-l6.*?</tr>',
                           page.split('id="board-Retrieval"')[1], re.S)
    assert '<td data-value="no" title="trained on SciFact">no</td>' in be_row and ">1.5B</td>" in be_row
    assert "no: trained on SciFact" in page and "unknown: the model declares no training data" in page



def _point(corpus: str, settings: str, qps: float, recall: float) -> dict:
    method = "exhaustive" if settings == "all passages" else "graph"
    return {"corpus": corpus, "method": method, "settings": settings, "queries_per_second": qps,
            "recall_at_10": recall, "ndcg_at_10": recall}


def test_trade_off_series_are_a_corpus_and_kind_of_search_each_with_its_pareto_front():
    from hyperret_eval.leaderboard.benchmarks import tradeoff_series

    points = [
        _point("SciFact", "all passages", 40, 1.0),
        _point("SciFact", "ip graph, ef 16", 200, 0.90),
        _point("SciFact", "l2 graph, ef 16", 180, 0.77),
        _point("SciFact", "ip graph, ef 32", 170, 0.89),  # slower and worse than ef 16
        _point("SciFact", "ip graph, ef 64", 120, 0.97),
        _point("SciFact", "l2 graph, ef 64", 100, 0.90),
        _point("synthetic", "ip graph, ef 16", 80, 0.73),
    ]
    series = tradeoff_series(points)
    assert [(s.label, [p["settings"] for p in s.points]) for s in series] == [
        ("SciFact, exhaustive", ["all passages"]),
        ("SciFact, ip graph", ["ip graph, ef 16", "ip graph, ef 32", "ip graph, ef 64"]),
        ("SciFact, l2 graph", ["l2 graph, ef 16", "l2 graph, ef 64"]),
        ("synthetic, ip graph", ["ip graph, ef 16"]),
    ]
    assert [p["settings"] for p in series[1].front] == ["ip graph, ef 16", "ip graph, ef 64"]
    assert series[2].front == series[2].points
