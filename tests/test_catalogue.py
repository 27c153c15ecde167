import pytest

from hyperret_eval.catalogue.selection import select_tasks
from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.core.errors import UserError

STS_TASKS = ["STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICK-R"]


def test_catalogue_keeps_the_first_tasks():
    catalogue = load_catalogue()
    assert list(catalogue)[:7] == STS_TASKS
    assert {"SciFact", "TRECDL2019Subset"} <= set(catalogue)
    assert all(catalogue[name].main_score == "cosine_spearman" for name in STS_TASKS)
    assert catalogue["TRECDL2019Subset"].relevance_threshold == 2
    assert "not comparable" in catalogue["TRECDL2019Subset"].caveat and catalogue["SciFact"].caveat is None
    scifact = catalogue["SciFact"]
    assert (scifact.split, scifact.main_score, scifact.source.path, scifact.metadata_from) == \
           ("test", "ndcg_at_10", "beir/scifact", "SciFact")


def test_groups_expand():
    assert [t.name for t in select_tasks("STS").tasks] == STS_TASKS
    assert [t.name for t in select_tasks("TREC-DL").tasks] == ["TRECDL2019Subset"]
    assert "SciFact" in [t.name for t in select_tasks("sts,BEIR").tasks]


def test_single_names_keep_order_and_drop_duplicates():
    names = [t.name for t in select_tasks("STSBenchmark,SciFact,stsbenchmark").tasks]
    assert names == ["STSBenchmark", "SciFact"]


def test_unknown_task_suggests_close_names():
    with pytest.raises(UserError, match=r"Unknown task or group 'STS17'\. Did you mean .*STS1"):
        select_tasks("STS17")


def test_empty_selection():
    with pytest.raises(UserError, match="--tasks is empty"):
        select_tasks(" , ")


def test_the_catalogue_reads_the_datasets_where_training_does():
    """The TOML catalogue is data, so it spells out the folders data/folders.py declares for
    the training defaults (HiCL's text sources, Hypencoder's training split): they agree."""
    from hyperret_eval.data.folders import SCIFACT, TREC_DL_2019_SUBSET

    catalogue = load_catalogue()
    assert catalogue["SciFact"].source.path == SCIFACT
    assert catalogue["TRECDL2019Subset"].source.path == TREC_DL_2019_SUBSET
