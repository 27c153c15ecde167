"""The papers' SentEval STS protocol, on a small copy of SentEval's files."""

from __future__ import annotations

import mteb
import pytest

from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.data.sts import read_semeval_all
from hyperret_eval.evaluation import senteval_sts
from hyperret_eval.integrations.mteb_tasks import build_task

from .conftest import copy_head


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
    report = senteval_sts.evaluate(minilm.model.encode, senteval_root, batch_size=16)
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
    report = senteval_sts.evaluate(minilm.model.encode, senteval_root, batch_size=16)
    pairs = read_semeval_all(senteval_root / "sts" / "STS13-en-test")
    task = build_task(load_catalogue()["STS13"], pairs, dataset_path="subset", dataset_revision="subset")
    result = mteb.evaluate(minilm, task, cache=None, overwrite_strategy="always", show_progress_bar=False)
    assert report["tasks"]["STS13"]["all"] / 100 == pytest.approx(result.task_results[0].get_score(), abs=5e-5)
