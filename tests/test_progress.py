"""What a run shows while it works: a bar per model x task on a terminal, a few plain
lines in a log (tested end to end with the output going to a pipe), nothing with
--quiet; the texts behind the progress counted as the model encodes them; score tables
that stay readable at 80 columns."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console

from hyperret_eval.cli import main
from hyperret_eval.core.bars import progress_bar
from hyperret_eval.evaluation.encode_counter import counting_encoded_texts
from hyperret_eval.evaluation.progress import Progress, mode_for
from hyperret_eval.report import score_table, senteval_table
from tests.conftest import child_env, official_hypencoder


class _Stream(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_mode_follows_quiet_then_the_terminal():
    assert mode_for(quiet=False, stream=_Stream(terminal=True)) == "bars"
    assert mode_for(quiet=False, stream=_Stream(terminal=False)) == "lines"
    assert mode_for(quiet=True, stream=_Stream(terminal=True)) == "quiet"


def test_lines_mode_says_start_quarters_and_end():
    said: list[str] = []
    progress = Progress("lines", say=said.append)
    with progress.task("minilm on SciFact", 100, detail="300 queries") as shown:
        for _ in range(10):
            shown.advance(10)
        shown.done("ndcg_at_10 64.51")
    assert len(said) == 5
    assert said[0] == "minilm on SciFact: 300 queries, 100 texts to encode"
    assert [line.split(": ", 1)[1].split(" (")[0] for line in said[1:4]] == ["30/100 texts", "50/100 texts",
                                                                             "80/100 texts"]
    assert said[4].startswith("minilm on SciFact: done in ") and said[4].endswith(", ndcg_at_10 64.51")


def test_bars_mode_draws_one_bar_a_task_completed_at_the_end():
    stream, said = _Stream(terminal=True), []
    progress = Progress("bars", say=said.append, bar_stream=stream)
    with progress.task("minilm on STS12", 80) as shown:
        shown.advance(32)  # the rest came from a cache, say: done() completes the bar
        shown.done("cosine_spearman 86.44")
    drawn = stream.getvalue()
    assert said == []
    assert drawn.count("\n") == 1, "one bar, left on its own line"
    assert "minilm on STS12" in drawn and "80/80" in drawn and "cosine_spearman 86.44" in drawn


def test_quiet_mode_keeps_notes_only():
    said: list[str] = []
    progress = Progress("quiet", say=said.append)
    progress.message("Loading model minilm")
    progress.note("Skipping NFCorpus: not present")
    with progress.task("minilm on SciFact", 10) as shown:
        shown.advance(10)
        shown.done("ndcg_at_10 1.00")
    assert said == ["Skipping NFCorpus: not present"]


@pytest.mark.slow
def test_our_own_bars_are_plain_lines_in_a_log():
    """Training, cache encoding and download bars: one line at the start and one at the end
    in a file or pipe (more only every 30 s), never a carriage return."""
    log = _Stream(terminal=False)
    for _ in progress_bar(range(5000), desc="Training x", unit="step", file=log):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 2, lines
    assert lines[0].startswith("Training x:   0%") and lines[-1].startswith("Training x: 100%") and "5000/5000" in lines[-1]


def test_our_own_bars_redraw_in_place_on_a_terminal():
    terminal = _Stream(terminal=True)
    with progress_bar(total=3, desc="Downloading x", file=terminal) as bar:
        bar.update(3)
    assert terminal.getvalue().count("\r") >= 2 and "3/3" in terminal.getvalue()


def test_training_into_a_pipe_logs_lines(tmp_path):
    """`hyperret-eval train ... > log 2>&1`: the training bar as lines, no library bar."""
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"sentence number {i} about a topic\n" for i in range(40)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "hyperret_eval.cli", "train", "hicl", "--text-file", str(texts), "--output",
         str(tmp_path / "model"), "--max-steps", "3", "--batch-size", "4", "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env(), timeout=600)
    log = done.stdout.decode("utf-8")
    assert done.returncode == 0, log
    assert "\r" not in log and "Loading weights" not in log, log
    assert "DEBUG" not in log, log
    assert any(line.startswith("Training hicl") and "3/3" in line for line in log.splitlines()), log


def test_a_library_logger_set_to_debug_stays_quiet(tmp_path):
    """bm25s sets its own logger to DEBUG when imported; the CLI's log level still holds
    (and HYPERRET_LOG_LEVEL=DEBUG still shows it)."""
    code = ("import logging, sys; from hyperret_eval import cli; cli._configure_logging(sys.argv[1]); "
            "logger = logging.getLogger('bm25s'); logger.setLevel(logging.DEBUG); logger.debug('index built')")
    for level, shown in (("WARNING", False), ("DEBUG", True)):
        done = subprocess.run([sys.executable, "-c", code, level], capture_output=True, text=True, env=child_env(),
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert ("DEBUG bm25s: index built" in done.stderr) == shown, done.stderr


def test_encoded_texts_are_counted_batch_by_batch(minilm):
    batches: list[int] = []
    with counting_encoded_texts(minilm, batches.append):
        minilm.model.encode(["a short text"] * 70, batch_size=32)
    minilm.model.encode(["after the block"], batch_size=32)
    assert batches == [32, 32, 6]


def test_hypencoder_queries_and_passages_are_counted():
    from hyperret_eval.models.hypencoder import Hypencoder

    model = Hypencoder.from_pretrained(official_hypencoder())
    holder = type("SearchModel", (), {"model": model})()  # as the runner's search model holds it
    batches: list[int] = []
    with counting_encoded_texts(holder, batches.append):
        model.encode_passages(["a passage"] * 5, batch_size=2)
        model.encode_queries(["a query"] * 3, batch_size=4)
    assert batches == [2, 2, 1, 3]


def test_score_tables_fit_80_columns_with_titles_on_one_line():
    from hyperret_eval.evaluation.runner import Score

    models = ["minilm", "hicl", "simcse", "hypencoder-4layer", "benchmarks/recipes/be-300steps.toml"]
    tasks = [("STS12", "STS"), ("STSBenchmark", "STS"), ("SciFact", "Retrieval"), ("TREC-DL-2019-subset", "Retrieval")]
    scores = [Score(m, t, kind, 0.5 + i / 100, {}, None, 1.0) for i, m in enumerate(models) for t, kind in tasks]
    reports = {m: {"tasks": {"STS12": {"all": 70.0}}} for m in models}  # one set: no papers' average
    rendered = {}
    for table, title, caption in (
            (score_table(scores), "Main scores x100", "STS: cosine Spearman; retrieval: nDCG@10"),
            (senteval_table(reports), "SentEval protocol (SimCSE/HiCL papers)",
             "Spearman x100 of cosine; STS12-16: 'all' setting")):
        console = Console(file=io.StringIO(), width=80)
        console.print(table)
        rendered[title] = lines = console.file.getvalue().splitlines()
        assert max(len(line) for line in lines) <= 80
        assert (lines[0], lines[-1]) == (title, caption)
    assert any("TREC-DL-2019-subset" in line for line in rendered["Main scores x100"])
    assert not any("Avg." in line for line in rendered["SentEval protocol (SimCSE/HiCL papers)"])


def test_retrieval_measures_table_shows_each_tasks_ir_measures_at_80_columns():
    from hyperret_eval.evaluation.runner import Score
    from hyperret_eval.report import retrieval_metrics_table

    scifact = {"ndcg_at_10": 0.645, "ir_measures:nDCG@10": 0.6451, "ir_measures:RR@10": 0.6012,
               "ir_measures:R@100": 0.925, "ir_measures:AP": 0.5934}
    trec = {"ndcg_at_10": 0.7977, "ir_measures:nDCG@10": 0.7977, "ir_measures:RR(rel=2)@10": 0.9244,
            "ir_measures:R(rel=2)@100": 0.5312, "ir_measures:AP(rel=2)": 0.4876}
    scores = [Score("benchmarks/recipes/hypencoder-300steps.toml", "SciFact", "Retrieval", 0.645, scifact, None, 1.0),
              Score("minilm", "TRECDL2019Subset", "Retrieval", 0.7977, trec, None, 1.0),
              Score("minilm", "STS12", "STS", 0.72, {"cosine_spearman": 0.72}, None, 1.0)]
    console = Console(file=io.StringIO(), width=80)
    console.print(retrieval_metrics_table(scores))
    lines = console.file.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80 and lines[0] == "Retrieval measures x100 (ir-measures)"
    header = next(line for line in lines if "nDCG@10" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")][2:] == ["nDCG@10", "RR@10", "R@100", "AP"]
    trec_row = next(line for line in lines if "TRECDL2019Subset" in line)
    assert "92.44" in trec_row and "48.76" in trec_row  # the rel=2 measures, in the common columns
    assert not any("STS12" in line for line in lines)
    assert retrieval_metrics_table(scores[2:]) is None


@pytest.mark.slow
def test_run_into_a_pipe_logs_a_few_lines_per_task(small_data_root, tmp_path):
    """Output to a pipe (as `run ... | tee log` or `> log 2>&1`): plain lines, no bar of
    any library, no carriage return; the table at 80 columns."""
    done = subprocess.run(
        [sys.executable, "-m", "hyperret_eval.cli", "run", "--tasks", "STS12,SciFact", "--models", "minilm",
         "--data-root", str(small_data_root), "--output-dir", str(tmp_path / "results"), "--device", "cpu",
         "--no-senteval"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env(COLUMNS="80"), timeout=900)
    log = done.stdout.decode("utf-8")
    assert done.returncode == 0, log
    assert len(done.stdout) < 3000, log
    assert "\r" not in log and "it/s" not in log
    for library_bar in ("Batches", "Loading weights", "Searching corpus", "Standardizing", "examples/s"):
        assert library_bar not in log
    lines = log.splitlines()
    assert len(lines) < 35, log  # a few per task, then the score tables
    assert lines[0].startswith("Loading model minilm")
    assert "minilm on STS12: 40 pairs, 80 texts to encode" in lines
    assert sum(line.startswith("minilm on SciFact: done in ") and "ndcg_at_10" in line for line in lines) == 1
    written = next(i for i, line in enumerate(lines) if line.startswith("Results written under "))
    table = lines[lines.index("Main scores x100"):written]  # messages stay unwrapped: they carry paths to copy
    assert max(len(line) for line in table) <= 80 and lines[written].endswith(str(tmp_path / "results"))


@pytest.mark.slow
def test_quiet_run_prints_only_the_tables(small_data_root, tmp_path, capsys):
    code = main(["run", "--tasks", "STS12", "--models", "minilm", "--data-root", str(small_data_root),
                 "--output-dir", str(tmp_path / "results"), "--device", "cpu", "--no-senteval", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("Main scores x100\n")
    assert "minilm on" not in out and "Loading model" not in out
    assert "STS12" in out and "Results written under" in out
    assert err == ""
