"""The table of published figures: every figure has its source and how it was checked,
names catalogue tasks and a score our results hold; ``run`` prints ours beside each one
and the leaderboard shows them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hyperret_eval.catalogue.published import PublishedFigure, ours_for, parse_figures, published_figures
from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.cli import main
from hyperret_eval.core.errors import UserError
from hyperret_eval.integrations.ir_metrics import result_keys

from .conftest import REPO, make_small_data_root
from .leaderboard_inputs import MINILM_DIR, MINILM_NAME, main_score, minilm_folder, publish

MTEB_KEYS = {"STS": {"cosine_spearman"}, "Retrieval": {"ndcg_at_10", "mrr_at_10", "recall_at_1000"}}


def test_every_figure_has_a_source_a_check_and_a_score_of_ours_to_meet():
    catalogue = load_catalogue()
    figures = published_figures()
    assert len(figures) >= 20
    for figure in figures:
        assert figure.source.strip() and figure.checked.strip(), figure
        assert all(task in catalogue for task in figure.tasks), figure
        kinds = {catalogue[task].type for task in figure.tasks}
        assert len(kinds) == 1, figure
        kind = kinds.pop()
        keys = set(MTEB_KEYS[kind]) | {k for t in figure.tasks for k in result_keys(catalogue[t].relevance_threshold)}
        if kind == "STS":
            keys.add("senteval_spearman")
        assert figure.metric in keys, figure


def test_the_papers_figures_are_the_ones_quoted():
    by_key = {(f.model, f.task_label, f.metric): f.value for f in published_figures()}
    hypencoder, be = "jfkback/hypencoder.6_layer", "BE-base (Hypencoder paper)"
    assert by_key[(hypencoder, "TRECDL2019+TRECDL2020", "ndcg_at_10")] == 0.736
    assert by_key[(be, "TRECDL2019+TRECDL2020", "ndcg_at_10")] == 0.713
    for task, ours, theirs in [("TRECCOVID", 0.685, 0.651), ("FiQA2018", 0.314, 0.309), ("NFCorpus", 0.324, 0.327),
                               ("DBPedia", 0.419, 0.405), ("Touche2020", 0.258, 0.240)]:
        assert (by_key[(hypencoder, task, "ndcg_at_10")], by_key[(be, task, "ndcg_at_10")]) == (ours, theirs)
    simcse = [v for (m, _, metric), v in by_key.items() if metric == "senteval_spearman"]
    assert len(simcse) == 7 and round(100 * sum(simcse) / 7, 2) == 76.25  # the paper's average


def test_pooled_tasks_are_weighted_by_their_queries():
    figure = PublishedFigure("m", ("TRECDL2019", "TRECDL2020"), "ndcg_at_10", 0.7, "s", "c")
    pooled = ours_for(figure, {"TRECDL2019": ({"ndcg_at_10": 0.70}, 43), "TRECDL2020": ({"ndcg_at_10": 0.75}, 54)})
    assert pooled == pytest.approx((43 * 0.70 + 54 * 0.75) / 97)
    assert ours_for(figure, {"TRECDL2019": ({"ndcg_at_10": 0.70}, 43)}) is None


def test_a_figure_without_its_source_is_refused():
    with pytest.raises(UserError, match=r"figure 1: needs exactly the fields"):
        parse_figures('[[figure]]\nmodel = "m"\ntasks = ["STS12"]\nmetric = "x"\nvalue = 0.5\n', "t.toml")
    with pytest.raises(UserError, match=r"value 72\.4 is not a fraction"):
        parse_figures('[[figure]]\nmodel = "m"\ntasks = ["STS12"]\nmetric = "x"\nvalue = 72.4\nsource = "s"\n'
                      'checked = "c"\n', "t.toml")


@pytest.mark.slow
def test_run_prints_the_published_figure_and_our_difference(capsys, data_root, tmp_path, monkeypatch):
    """On mteb's own copy of STS12 (its data hash is the one the catalogue declares)."""
    monkeypatch.setenv("COLUMNS", "300")
    code = main(["run", "--tasks", "STS12", "--models", "minilm", "--data-root", str(data_root),
                 "--output-dir", str(tmp_path / "out"), "--device", "cpu", "--no-senteval"])
    out = capsys.readouterr().out
    assert code == 0
    ours = main_score(next((tmp_path / "out").glob("sentence-transformers__all-MiniLM-L6-v2/*")) / "STS12.json")
    line = next(line for line in out.splitlines() if "STS12" in line and "MTEB results" in line)
    assert "Published figures beside ours" in out
    assert f"{100 * ours:.2f}" in line and "72.37" in line and f"{100 * (ours - 0.72369):+.2f}" in line
    assert "MTEB results repository, STS12.json" in line


@pytest.mark.slow
def test_the_leaderboard_shows_published_figures_beside_ours(capsys, minilm_run_results, tmp_path):
    """The committed MiniLM results (mteb's own data) stand beside MTEB's figures; the same
    model on a 40-pair cut of STS12 (the run fixture's data) stands beside none."""
    subset = tmp_path / "subset"
    code, _, err = publish(capsys, minilm_run_results, "--leaderboard", subset)
    assert code == 0, err
    assert "## Published figures beside ours" not in (subset / "README.md").read_text(encoding="utf-8")

    committed = tmp_path / "results"
    shutil.copytree(REPO / "results" / MINILM_DIR, committed / MINILM_DIR)
    board = tmp_path / "board"
    code, _, err = publish(capsys, committed, "--leaderboard", board)
    assert code == 0, err
    ours = main_score(minilm_folder(committed) / "STS12.json")
    readme = (board / "README.md").read_text(encoding="utf-8")
    assert "## Published figures beside ours" in readme
    row = next(line for line in readme.splitlines()
               if line.startswith(f"| {MINILM_NAME} |") and "STS12" in line and "cosine" in line)
    assert f"{100 * ours:.2f}" in row and "72.37" in row and f"{100 * (ours - 0.72369):+.2f}" in row
    page = (board / "index.html").read_text(encoding="utf-8")
    assert 'id="published"' in page and "72.37" in page and "MTEB results repository, STS12.json" in page


def test_the_senteval_report_of_the_simcse_recipe_meets_the_papers_table():
    """The SentEval protocol's figures (x100 in its report) are set beside the SimCSE
    paper's Table 5 for the model its paper recipe trains."""
    from rich.console import Console

    from hyperret_eval.evaluation.runner import Score
    from hyperret_eval.report import published_table

    name = "hyperret/simcse-bert-base-wiki1m"
    scores = [Score("simcse-paper", "STS12", "STS", 0.70, {"cosine_spearman": 0.70}, Path("STS12.json"), 1.0,
                    name, 3108)]
    report = {"simcse-paper": {"tasks": {"STS12": {"all": 69.10}, "STS13": {"all": 80.00}}}}
    console = Console(width=300, record=True)
    console.print(published_table(scores, report))
    lines = [line for line in console.export_text().splitlines() if "senteval_spearman" in line]
    assert len(lines) == 2
    sts12 = next(line for line in lines if "STS12" in line)
    assert "69.10" in sts12 and "68.40" in sts12 and "+0.70" in sts12 and "Table 5" in sts12


@pytest.mark.slow
def test_a_score_on_other_data_is_set_beside_no_published_figure(capsys, data_root, tmp_path, monkeypatch):
    """A 40-pair cut of STS12 is not the STS12 that MTEB's figure was computed on."""
    monkeypatch.setenv("COLUMNS", "300")
    root = make_small_data_root(tmp_path / "data", data_root)
    code = main(["run", "--tasks", "STS12", "--models", "minilm", "--data-root", str(root),
                 "--output-dir", str(tmp_path / "out"), "--device", "cpu", "--no-senteval"])
    out = capsys.readouterr().out
    assert code == 0 and "STS12" in out
    assert "Published figures beside ours" not in out

