"""Inputs whose declared sizes ask for far more memory than they hold (the YAML alias
bomb is in test_recipe_safety.py). Each case runs in a
child process under an address-space ceiling; it must end in a message (exit 2) with a
peak resident memory under 2 GB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import official_hypencoder, run_measured

# One child loads every case in turn (torch is imported once): its peak bounds each case's.
LOAD_HYPENCODERS = """\
from hyperret_eval.core.errors import UserError
from hyperret_eval.models.hypencoder import Hypencoder
status = 0
for number, folder in enumerate(sys.argv[1:]):
    try:
        Hypencoder.from_pretrained(folder)
        print(f"CASE {number} loaded", file=sys.stderr)
    except UserError as exc:
        print(f"CASE {number} exit {exc.exit_code}: {exc}", file=sys.stderr)
"""


@pytest.fixture(scope="module")
def our_format(tmp_path_factory) -> Path:
    """The fixture saved in our own format (safetensors, backbone config stored in config.json)."""
    from hyperret_eval.models.hypencoder import Hypencoder

    folder = tmp_path_factory.mktemp("ours") / "ckpt"
    Hypencoder.from_pretrained(official_hypencoder()).save_pretrained(folder)
    return folder


def _copy(source: Path, target: Path, change) -> Path:
    shutil.copytree(source, target)
    for path in target.iterdir():
        path.chmod(0o644)
    config = json.loads((target / "config.json").read_text())
    change(config)
    (target / "config.json").write_text(json.dumps(config))
    return target


def _dims(dims):
    def change(config):
        config["query_encoder_kwargs"]["converter_kwargs"]["vector_dimensions"] = dims
    return change


def _stored(key, value):
    def change(config):
        config["hyperret"]["query_backbone_config"][key] = value
    return change


BOMBS = [
    ("released", _dims([128, 12000, 12000, 1]), "vector_dimensions [128, 12000, 12000, 1] need"),
    ("released", _dims([128, 30000, 30000, 1]), "vector_dimensions [128, 30000, 30000, 1] need"),
    ("released", _dims([128, 100_000_000, 1]), "vector_dimensions [128, 100000000, 1] need"),
    ("ours", _stored("vocab_size", 1_000_000_000), "the config needs (1000000000, 128)"),
    ("ours", _stored("intermediate_size", 10_000_000), "the config needs (10000000, 128)"),
    ("ours", _stored("num_hidden_layers", 100_000_000), "more layers than its"),
]


@pytest.mark.slow
def test_config_sizes_beyond_the_weights_are_refused_before_allocating(tmp_path, our_format):
    folders = [_copy(official_hypencoder() if source == "released" else our_format, tmp_path / f"case{i}", change)
               for i, (source, change, _) in enumerate(BOMBS)]
    code, err, peak_gb = run_measured(LOAD_HYPENCODERS, *map(str, folders), timeout=600)
    assert code == 0 and "Traceback" not in err, err[-3000:]
    outcomes = dict(line.split(" ", 2)[1:] for line in err.splitlines() if line.startswith("CASE "))
    for number, (_, _, message) in enumerate(BOMBS):
        assert outcomes[str(number)].startswith("exit 2: ") and message in outcomes[str(number)], outcomes
    assert peak_gb < 2


ENCODE_HUGE_TEXT = """\
import time
from hyperret_eval.models.backbones import packaged_minilm_path
from hyperret_eval.models.hicl.modeling_hicl import HiCLEncoder
from hyperret_eval.models.hypencoder import Hypencoder
from hyperret_eval.models.sentence_model import load_sentence_transformer
huge = "lorem ipsum dolor sit amet " * (50_000_000 // 27)
minilm_path = packaged_minilm_path()
started = time.perf_counter()
print("SHAPE", load_sentence_transformer(minilm_path, "cpu").encode([huge, "short"]).shape, file=sys.stderr)
print("SHAPE", tuple(Hypencoder.from_pretrained(sys.argv[1]).encode_passages([huge, "short"]).shape), file=sys.stderr)
print("SEGMENTS", len(HiCLEncoder(str(minilm_path), segment_length=32, max_tokens=128).slicer.split(huge)),
      file=sys.stderr)
print(f"SECONDS {time.perf_counter() - started:.1f}", file=sys.stderr)
status = 0
"""


@pytest.mark.slow
def test_a_50mb_text_is_cut_before_tokenizing():
    """sentence-transformers (the passage path of every embedding model), Hypencoder (its
    passage cache encodes through the same tokenize) and HiCL's slicer, on one 50 MB text."""
    code, err, peak_gb = run_measured(ENCODE_HUGE_TEXT, str(official_hypencoder()), timeout=600)
    assert code == 0 and "Traceback" not in err, err[-3000:]
    assert "SHAPE (2, 384)" in err and "SHAPE (2, 128)" in err and "SEGMENTS 4" in err
    seconds = float(next(line.split()[1] for line in err.splitlines() if line.startswith("SECONDS")))
    assert seconds < 60 and peak_gb < 2


@pytest.mark.slow
def test_cutting_changes_nothing_a_model_reads():
    from transformers import AutoTokenizer

    from hyperret_eval.models.backbones import packaged_minilm_path
    from hyperret_eval.models.text_bound import clip_text

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_minilm_path()))
    text = " ".join(f"word{i} supercalifragilisticexpialidocious, and more." for i in range(3000))
    for limit in (16, 128, 512):
        whole = tokenizer(text, truncation=True, max_length=limit)["input_ids"]
        assert tokenizer(clip_text(text, limit), truncation=True, max_length=limit)["input_ids"] == whole
