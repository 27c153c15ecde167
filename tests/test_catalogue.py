import pytest

from hyperret_eval.catalogue.tasks import load_catalogue, select_tasks
from hyperret_eval.core.errors import UserError

STS_TASKS = ["STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICK-R"]


def test_catalogue_has_the_issue_tasks():
    catalogue = load_catalogue()
    assert list(catalogue) == [*STS_TASKS, "SciFact", "TRECDL2019Subset"]
    assert all(catalogue[name].main_score == "cosine_spearman" for name in STS_TASKS)
    assert catalogue["TRECDL2019Subset"].relevance_threshold == 2


def test_groups_expand(data_root):
    assert [t.name for t in select_tasks("STS", data_root)] == STS_TASKS
    assert [t.name for t in select_tasks("BEIR", data_root)] == ["SciFact", "TRECDL2019Subset"]
    assert [t.name for t in select_tasks("sts,BEIR", data_root)][-2:] == ["SciFact", "TRECDL2019Subset"]


def test_beir_group_keeps_only_present_datasets(small_data_root):
    assert [t.name for t in select_tasks("BEIR", small_data_root)] == ["SciFact"]


def test_single_names_keep_order_and_drop_duplicates(data_root):
    names = [t.name for t in select_tasks("STSBenchmark,SciFact,stsbenchmark", data_root)]
    assert names == ["STSBenchmark", "SciFact"]


def test_unknown_task_suggests_close_names(data_root):
    with pytest.raises(UserError, match=r"Unknown task or group 'STS17'\. Did you mean .*STS1"):
        select_tasks("STS17", data_root)


def test_empty_selection(data_root):
    with pytest.raises(UserError, match="--tasks is empty"):
        select_tasks(" , ", data_root)


def test_beir_group_with_no_data(tmp_path):
    with pytest.raises(UserError, match="none of its datasets"):
        select_tasks("BEIR", tmp_path)


def test_the_catalogue_reads_the_datasets_where_training_does():
    """The TOML catalogue is data, so it spells out the folders data/folders.py declares for
    the training defaults (HiCL's text sources, Hypencoder's training split): they agree."""
    from hyperret_eval.data.folders import SCIFACT, TREC_DL_2019_SUBSET

    catalogue = load_catalogue()
    assert catalogue["SciFact"].source.path == SCIFACT
    assert catalogue["TRECDL2019Subset"].source.path == TREC_DL_2019_SUBSET
