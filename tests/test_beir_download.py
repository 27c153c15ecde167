"""Fetching the catalogue's missing datasets when online, against servers on loopback:
BEIR's zips (CQADupstack's one zip for twelve forums, MSMARCO's size warning), mteb's hub
datasets (NanoBEIR, written as BEIR folders), and the ways a download fails."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from hyperret_eval.catalogue.selection import Selection
from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.core.errors import DataNotFoundError
from hyperret_eval.data import download
from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.data.download import OFFLINE_ENV
from hyperret_eval.evaluation.task_data import available_tasks, load_task_data

from .beir_folders import CQADUPSTACK_FORUMS, beir_folder, cqadupstack_folders, mteb_hub_dataset
from .conftest import free_port


@pytest.fixture
def online(monkeypatch):
    for name in OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)


def _zip(folder: Path, www: Path) -> None:
    """Serve ``folder`` as ``<its name>.zip`` holding that one top folder, as BEIR's zips do."""
    shutil.make_archive(str(www / folder.name), "zip", root_dir=folder.parent, base_dir=folder.name)


def _fetched_from(spec, url: str):
    """``spec`` (or each of its members) downloading from ``url`` instead of BEIR's server."""
    if spec.members:
        return replace(spec, members=tuple(_fetched_from(member, url) for member in spec.members))
    return replace(spec, source=replace(spec.source, beir_url=url))


def _no_staging_left(folder: Path) -> None:
    assert not [p for p in folder.rglob(".*") if p.is_dir()], "a staging folder was left behind"


def test_cqadupstack_comes_in_one_zip_for_twelve_forums(online, http_folder, data_root, tmp_path):
    www, base, requests = http_folder
    _zip(cqadupstack_folders(data_root / "beir" / "scifact", tmp_path / "staged" / "cqadupstack"), www)
    spec = _fetched_from(load_catalogue()["CQADupstackRetrieval"], f"{base}/cqadupstack.zip")
    root = tmp_path / "data"

    data = load_task_data(spec, root, print)

    assert requests == ["/cqadupstack.zip"], "one download serves all twelve forums"
    assert list(data.parts) == [member.name for member in spec.members]
    for forum, part in zip(CQADUPSTACK_FORUMS, data.parts.values()):
        assert part.files[0] == root / "beir" / "cqadupstack" / forum / "corpus.jsonl"
    _no_staging_left(root)


def test_a_large_corpus_is_announced_before_its_download(online, http_folder, data_root, tmp_path, capsys):
    www, base, _ = http_folder
    _zip(beir_folder(data_root / "beir" / "scifact", tmp_path / "staged" / "msmarco", split="dev"), www)
    spec = _fetched_from(load_catalogue()["MSMARCO"], f"{base}/msmarco.zip")
    root = tmp_path / "data"
    messages = []

    ready = available_tasks(Selection([spec], frozenset({"MSMARCO"})), root, messages.append)

    assert ready == [spec]
    assert messages == [f"Warning: MSMARCO is large: 8,841,823 documents (mteb's count) to download into "
                        f"{root / 'beir' / 'msmarco'}, and every model evaluated on it encodes them all."]
    assert "Downloading msmarco" in capsys.readouterr().err, "the download shows a progress bar"
    assert len(load_task_data(spec, root, messages.append).queries) == 4
    assert len(messages) == 1, "no warning once the data is here"


def test_a_group_stops_downloading_after_the_first_failure(online, http_folder, data_root, tmp_path):
    www, base, requests = http_folder
    _zip(beir_folder(data_root / "beir" / "scifact", tmp_path / "staged" / "nfcorpus"), www)
    catalogue = load_catalogue()
    unreachable = _fetched_from(catalogue["TRECCOVID"], f"http://127.0.0.1:{free_port()}/trec-covid.zip")
    reachable = _fetched_from(catalogue["NFCorpus"], f"{base}/nfcorpus.zip")
    root = tmp_path / "data"
    beir_folder(data_root / "beir" / "scifact", root / "beir" / "scifact")
    selection = Selection([unreachable, reachable, catalogue["SciFact"]],
                          frozenset({"TRECCOVID", "NFCorpus", "SciFact"}))
    messages = []

    ready = available_tasks(selection, root, messages.append)

    assert [spec.name for spec in ready] == ["SciFact"]
    assert requests == [], "after one failed download no other is tried"
    (note,) = messages
    assert "downloading TRECCOVID failed" in note and "Connection refused" in note
    assert "no further download was tried" in note and f"NFCorpus: put it at {root / 'beir' / 'nfcorpus'}" in note


def test_a_file_that_is_not_a_zip(online, http_folder, tmp_path):
    www, base, _ = http_folder
    (www / "nfcorpus.zip").write_bytes(b"<html>maintenance</html>")
    spec = _fetched_from(load_catalogue()["NFCorpus"], f"{base}/nfcorpus.zip")
    with pytest.raises(DataNotFoundError, match="nfcorpus.zip is not a readable zip archive"):
        load_task_data(spec, tmp_path / "data", print)
    assert list((tmp_path / "data" / "beir").iterdir()) == []


def test_a_zip_larger_than_the_free_disk_is_not_unpacked(online, http_folder, data_root, tmp_path, monkeypatch):
    www, base, _ = http_folder
    _zip(beir_folder(data_root / "beir" / "scifact", tmp_path / "staged" / "nfcorpus"), www)
    spec = _fetched_from(load_catalogue()["NFCorpus"], f"{base}/nfcorpus.zip")
    monkeypatch.setattr(download.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    with pytest.raises(DataNotFoundError, match=r"nfcorpus.zip unpacks to 0\.0 GB; only 0\.0 GB are free"):
        load_task_data(spec, tmp_path / "data", print)
    assert list((tmp_path / "data" / "beir").iterdir()) == []


def _mteb_hub_dataset(folder: Path, source: Path) -> Path:
    """``source`` (a BEIR folder) laid out as mteb publishes NanoBEIR on the hub."""
    data = read_beir_folder(source, "test")
    return mteb_hub_dataset(folder, data.corpus, data.queries, data.qrels)


def test_nanobeir_comes_from_mtebs_hub_dataset_as_a_beir_folder(mock_hub, data_root, tmp_path):
    source = beir_folder(data_root / "beir" / "scifact", tmp_path / "source", n_queries=5, titles=False)
    spec = load_catalogue()["NanoNFCorpusRetrieval"]
    mock_hub.serve(spec.source.hf_dataset, spec.source.hf_revision,
                   _mteb_hub_dataset(tmp_path / "hub", source), kind="datasets")
    root = tmp_path / "data"

    data = load_task_data(spec, root, print)

    folder = root / "nanobeir" / "nfcorpus"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == \
           ["corpus.jsonl", "qrels/train.tsv", "queries.jsonl"]
    original = read_beir_folder(source, "test")
    assert (data.corpus, data.queries, data.qrels) == (original.corpus, original.queries, original.qrels)
    assert any(f"/datasets/{spec.source.hf_dataset}/resolve/" in r for r in mock_hub.requests)
    assert json.loads((folder / "corpus.jsonl").read_text().splitlines()[0])["title"] == ""
    _no_staging_left(root)


def test_a_hub_dataset_that_is_not_a_retrieval_dataset(mock_hub, tmp_path):
    spec = load_catalogue()["NanoNFCorpusRetrieval"]
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "README.md").write_text("no data here\n")
    mock_hub.serve(spec.source.hf_dataset, spec.source.hf_revision, tmp_path / "hub", kind="datasets")
    with pytest.raises(DataNotFoundError, match="mteb/NanoNFCorpusRetrieval could not be read as a retrieval dataset"):
        load_task_data(spec, tmp_path / "data", print)
    assert not (tmp_path / "data" / "nanobeir" / "nfcorpus").exists()


def test_an_unreachable_hub_fails_at_once(online, monkeypatch, tmp_path):
    import time

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    with pytest.raises(DataNotFoundError, match=r"could not download mteb/NanoNFCorpusRetrieval from the Hugging "
                                                r"Face hub \(http://127\.0\.0\.1:\d+\)"):
        load_task_data(load_catalogue()["NanoNFCorpusRetrieval"], tmp_path / "data", print)
    assert time.monotonic() - start < 5
