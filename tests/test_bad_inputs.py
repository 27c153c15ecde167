"""Odd inputs end in one message naming the file (and the key or line), exit status 2,
never a traceback (issue 13, items 9, 10 and 13)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hyperret_eval.errors import UserError
from tests.test_hypencoder_checkpoint import FIXTURE


def _checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt"
    shutil.copytree(FIXTURE, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def _refused(load, *expected: str) -> str:
    with pytest.raises(UserError) as caught:
        load()
    message = str(caught.value)
    assert caught.value.exit_code == 2
    for part in expected:
        assert part in message, message
    assert len(message) < 600, message  # one message, not a dump
    return message


def _set(path: list[str], value):
    def change(config):
        section = config
        for key in path[:-1]:
            section = section.setdefault(key, {})
        section[path[-1]] = value
    return change


CONVERTER = ["query_encoder_kwargs", "converter_kwargs"]


@pytest.mark.parametrize(("change", "key"), [
    (_set([*CONVERTER, "vector_dimensions"], [128, -3, 1]), "vector_dimensions"),
    (_set([*CONVERTER, "vector_dimensions"], None), "vector_dimensions"),
    (_set([*CONVERTER, "vector_dimensions"], "128,1"), "vector_dimensions"),
    (_set([*CONVERTER, "vector_dimensions"], [128.0, 1.0]), "vector_dimensions"),
    (_set([*CONVERTER, "vector_dimensions"], 128), "vector_dimensions"),
    (_set(["query_encoder_kwargs"], "x"), "query_encoder_kwargs"),
    (_set([*CONVERTER], [1, 2]), "converter_kwargs"),
    (_set(["passage_encoder_kwargs", "pooling_type"], ["cls"]), "pooling_type"),
    (_set([*CONVERTER, "activation_type"], ["relu"]), "activation_type"),
    (_set([*CONVERTER, "do_residual"], "yes"), "do_residual"),
    (_set(["hyperret"], "x"), "hyperret"),
    (_set(["hyperret", "max_length"], -3), "hyperret.max_length"),
    (_set(["hyperret", "max_length"], "abc"), "hyperret.max_length"),
    (_set(["hyperret", "query_backbone_config"], {"model_type": "no-such-model"}), "model_type"),
    (_set(["shared_encoder"], "no"), "shared_encoder"),
])
def test_hypencoder_config_values_of_the_wrong_kind(tmp_path, change, key):
    from hyperret_eval.models.hypencoder import Hypencoder

    folder = _checkpoint(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))
    _refused(lambda: Hypencoder.from_pretrained(folder), f"{folder / 'config.json'}: ", key)


@pytest.mark.parametrize(("content", "problem"), [
    (b'{"query_encoder_kwargs": "\xff"}', "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"query_encoder_kwargs": ' + b"[" * 100 + b"]" * 100 + b"}", "nested more than"),
], ids=["not-utf8", "nested-100k", "nested-100"])
def test_hypencoder_config_that_is_not_readable_json(tmp_path, content, problem):
    from hyperret_eval.models.hypencoder import Hypencoder

    folder = _checkpoint(tmp_path)
    (folder / "config.json").write_bytes(content)
    _refused(lambda: Hypencoder.from_pretrained(folder), str(folder / "config.json"), problem)


@pytest.mark.parametrize("modules", [{"0": "sentence_transformers.models.Transformer"}, [1, 2, 3]])
def test_sentence_transformers_modules_json_of_the_wrong_shape(tmp_path, modules):
    from hyperret_eval.models.registry import load_sentence_transformer
    from tests.test_model_folder_safety import minilm_copy

    model = minilm_copy(tmp_path / "model")
    (model / "modules.json").write_text(json.dumps(modules))
    _refused(lambda: load_sentence_transformer(model, "cpu"), f"{model / 'modules.json'}: expected a list of modules")
