"""A HiCL checkpoint loads anywhere: it carries its module as ``modeling_hicl.py``, which
sentence-transformers runs with ``trust_remote_code=True`` in an environment without
hyperret-eval, while our own loader uses the installed class and never runs that file; its
model card says what it is, how it was trained and how to load it; a copy saved with
``save_pretrained`` keeps its name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from hyperret_eval.catalogue.models import resolve_model
from hyperret_eval.models.hicl import config, modeling_hicl
from hyperret_eval.models.sentence_model import load_sentence_transformer
from hyperret_eval.models.text_bound import CHARS_PER_TOKEN

TEXTS = ["the cat sat on the mat", "stock markets fell sharply on monday", "a recipe for lemon cake",
         "the team won the championship final", "rain is expected over the weekend", "a new vaccine trial"]
# Trained with other settings than the named recipe's: named with them.
VARIANT = "hyperret/hicl-minilm-l6 (batch_size=3, max_steps=2, text_file=texts.txt)"
PROBES = ["A sentence to embed.", "astronomers detect a distant galaxy " * 12]


def test_the_portable_file_repeats_the_packages_settings():
    """modeling_hicl.py runs without the package, so it repeats two of its constants."""
    assert (modeling_hicl.POOLINGS, modeling_hicl.AGGREGATIONS) == (config.POOLINGS, config.AGGREGATIONS)
    assert modeling_hicl.CHARS_PER_TOKEN == CHARS_PER_TOKEN
    imports = [line for line in Path(modeling_hicl.__file__).read_text().splitlines()
               if line.startswith(("import ", "from "))]
    assert not [line for line in imports if "hyperret" in line], imports


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A HiCL checkpoint trained two steps from the command line."""
    from hyperret_eval.cli import main

    root = tmp_path_factory.mktemp("hicl-portable")
    (root / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert main(["train", "hicl", "--text-file", str(root / "texts.txt"), "--max-steps", "2", "--batch-size", "3",
                 "--output", str(root / "ckpt"), "--device", "cpu"]) == 0
    return root / "ckpt"


def _venv_without_the_package(where: Path) -> Path:
    """A virtual environment that sees this environment's libraries (torch,
    sentence-transformers...) through a .pth file, but not hyperret_eval: the editable
    install's own .pth hook is not run for a folder added that way."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return python


ELSEWHERE = """
import json, sys
try:
    import hyperret_eval
    print(json.dumps({"hyperret_eval": hyperret_eval.__file__}))
    sys.exit(3)
except ModuleNotFoundError:
    pass
from sentence_transformers import SentenceTransformer
try:
    SentenceTransformer(sys.argv[1], device="cpu")
    untrusted = "loaded"
except ValueError as refused:
    untrusted = str(refused)
model = SentenceTransformer(sys.argv[1], device="cpu", trust_remote_code=True)
print(json.dumps({"untrusted": untrusted, "module": type(model[0]).__module__,
                  "embeddings": model.encode(json.loads(sys.argv[2])).tolist()}))
"""


@pytest.mark.slow
def test_a_checkpoint_loads_with_sentence_transformers_alone(checkpoint, tmp_path):
    modules = json.loads((checkpoint / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["modeling_hicl.HiCLEncoder"]
    assert (checkpoint / "modeling_hicl.py").read_text() == Path(modeling_hicl.__file__).read_text()
    python = _venv_without_the_package(tmp_path / "venv")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([str(python), "-c", ELSEWHERE, str(checkpoint), json.dumps(PROBES)], cwd=tmp_path,
                          env={**env, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-3000:]
    elsewhere = json.loads(done.stdout.strip().splitlines()[-1])
    assert "trust_remote_code=True" in elsewhere["untrusted"]
    assert elsewhere["module"].startswith("transformers_modules.") and elsewhere["module"].endswith(".modeling_hicl")
    ours = load_sentence_transformer(checkpoint, "cpu").encode(PROBES)
    np.testing.assert_allclose(np.array(elsewhere["embeddings"]), ours, atol=1e-5)


@pytest.mark.slow
def test_our_loader_never_runs_the_file_the_checkpoint_carries(checkpoint, tmp_path):
    copy = tmp_path / "ckpt"
    shutil.copytree(checkpoint, copy)
    marker = tmp_path / "ran"
    with open(copy / "modeling_hicl.py", "a", encoding="utf-8") as code:
        code.write(f"\nopen({str(marker)!r}, 'w').write('the checkpoint code ran')\n")
    model = load_sentence_transformer(copy, "cpu")
    assert model.encode(PROBES).shape == (2, 384)
    assert type(model[0]) is modeling_hicl.HiCLEncoder and not marker.exists()


@pytest.mark.slow
def test_the_card_says_what_it_is_and_a_saved_copy_keeps_its_name(checkpoint, tmp_path):
    card = (checkpoint / "README.md").read_text()
    for said in ("# hicl-minilm-l6 (HiCL)", "arxiv.org/abs/2310.09720", "base_model: "
                 "sentence-transformers/all-MiniLM-L6-v2", "2 of 2 optimizer steps", "6 texts",
                 "hyperret-eval run --tasks STS", "trust_remote_code=True", "hyperret_eval.load_model"):
        assert said in card, said
    assert "Unknown" not in card
    resolved = resolve_model(str(checkpoint))
    assert resolved.mteb_name == VARIANT and resolved.provenance()["checkpoint"]["recipe"]["max_steps"] == 2

    load_sentence_transformer(checkpoint, "cpu").save_pretrained(str(tmp_path / "copy"))
    assert not (tmp_path / "copy" / "training").exists()
    assert (tmp_path / "copy" / "README.md").read_text() == card
    assert json.loads((tmp_path / "copy" / "modules.json").read_text())[0]["type"] == "modeling_hicl.HiCLEncoder"
    assert (tmp_path / "copy" / "modeling_hicl.py").is_file()
    assert resolve_model(str(tmp_path / "copy")).mteb_name == VARIANT
