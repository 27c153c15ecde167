"""Fetching a missing BEIR dataset, against a real HTTP server on loopback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hyperret_eval.core.errors import DataNotFoundError
from hyperret_eval.data import sources
from hyperret_eval.data.sources import Source

from .conftest import make_small_beir


def test_missing_beir_dataset_is_downloaded_and_unpacked(http_folder, data_root, tmp_path, monkeypatch):
    for name in ("HYPERRET_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    www, base, _ = http_folder
    staged = tmp_path / "staged" / "tinyfact"
    make_small_beir(data_root / "beir" / "scifact", staged, n_queries=3, n_extra_docs=5)
    shutil.make_archive(str(www / "tinyfact"), "zip", root_dir=staged.parent, base_dir="tinyfact")

    root = tmp_path / "data"
    source = Source(format="beir", path="beir/tinyfact", beir_url=f"{base}/tinyfact.zip")
    data = sources.load("TinyFact", source, "test", root)

    assert len(data.queries) == 3
    assert (root / "beir" / "tinyfact" / "corpus.jsonl").is_file()
    assert [p.name for p in (root / "beir").iterdir()] == ["tinyfact"], "no staging folder may remain"


def test_failed_download_explains_and_leaves_nothing(http_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("HYPERRET_OFFLINE", raising=False)
    _, base, _ = http_folder
    root = tmp_path / "data"
    source = Source(format="beir", path="beir/absent", beir_url=f"{base}/absent.zip")
    with pytest.raises(DataNotFoundError) as err:
        sources.load("Absent", source, "test", root)
    message = str(err.value)
    assert "'Absent'" in message and str(root / "beir" / "absent") in message
    assert "404" in message and "--data-root" in message
    assert not any(Path(root).rglob("*.json*"))
    assert list((root / "beir").iterdir()) == []
