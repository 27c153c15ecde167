"""Starting up: ``hyperret-eval --help`` and ``list`` answer without importing torch or
mteb (half a minute on a cold start), and ``import hyperret_eval`` still registers our
models with mteb, whether mteb is imported before or after it. Each case runs in a child
process, whose ``sys.modules`` is its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, child_env

HEAVY = ("torch", "mteb", "transformers", "sentence_transformers")
RUN_CLI = f"""
import sys
from hyperret_eval.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as stop:
    status = stop.code
print("HEAVY=" + ",".join(name for name in {HEAVY!r} if name in sys.modules))
sys.exit(status)
"""


def _child(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=child_env(), capture_output=True,
                          text=True, timeout=600)


def _one_query_nfcorpus(data_root) -> None:
    """A BEIR folder at NFCorpus's place, so that listing counts it."""
    folder = data_root / "beir" / "nfcorpus"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "a document"}\n')
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "a query"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["list", "tasks"], ["list", "models"]],
                         ids=" ".join)
@pytest.mark.slow
def test_light_commands_import_neither_torch_nor_mteb(argv, tmp_path):
    if argv == ["list", "tasks"]:  # a present dataset too, whose counts are read
        _one_query_nfcorpus(tmp_path)
        argv = [*argv, "--data-root", str(tmp_path)]
    done = _child(RUN_CLI, *argv)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY=\n" in done.stdout, done.stdout[-500:]
    if argv[:2] == ["list", "tasks"]:
        assert "1 documents, 1 queries" in done.stdout, done.stdout[-3000:]


IMPORTS = {
    "hyperret_eval first": "import hyperret_eval\nimport mteb\n",
    "mteb first": "import mteb\nimport hyperret_eval\n",
    "mteb looked up before its import": "import importlib.util, hyperret_eval\nimportlib.util.find_spec('mteb')\n"
                                        "import mteb\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("order", IMPORTS)
def test_import_hyperret_eval_registers_the_models_with_mteb(order):
    imports = IMPORTS[order]
    done = _child(imports + "for name in ('hyperret/hicl-minilm-l6', 'hyperret/simcse-minilm-l6', "
                            "'hyperret/hypencoder-minilm-l6'):\n"
                            "    print(mteb.get_model_meta(name).name)\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["hyperret/hicl-minilm-l6", "hyperret/simcse-minilm-l6",
                                   "hyperret/hypencoder-minilm-l6"]


@pytest.mark.slow
def test_load_model_before_any_mteb_import():
    """``load_model`` imports mteb itself; registering with mteb must not re-enter the
    module that is importing it."""
    done = _child("import sys, hyperret_eval\nassert 'mteb' not in sys.modules\n"
                  "model = hyperret_eval.load_model('minilm', device='cpu')\n"
                  "import mteb\nprint(model.mteb_model_meta.name)\n"
                  "print(mteb.get_model_meta('hyperret/hicl-minilm-l6').name)\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["sentence-transformers/all-MiniLM-L6-v2", "hyperret/hicl-minilm-l6"]


# Modules that import mteb at their top: importing any of them first registers our models
# while it is itself half imported, which must not loop back into it.
FIRST_IMPORTS = ["hyperret_eval.integrations.mteb_loader", "hyperret_eval.integrations.mteb_search",
                 "hyperret_eval.integrations.mteb_tasks", "hyperret_eval.integrations.mteb_models",
                 "hyperret_eval.evaluation.runner"]


@pytest.mark.slow
@pytest.mark.parametrize("module", FIRST_IMPORTS)
def test_any_module_importing_mteb_may_come_first(module):
    done = _child(f"import {module}\nimport mteb\nprint(mteb.get_model_meta('hyperret/hicl-minilm-l6').name)\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "hyperret/hicl-minilm-l6"


def test_importing_the_package_imports_no_mteb():
    done = _child("import sys, hyperret_eval\nprint(sorted(n for n in ('torch', 'mteb') if n in sys.modules))")
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]


BAD_RUNS = {
    "unknown task": (["--tasks", "STS99"], "Unknown task or group 'STS99'"),
    "unknown model": (["--models", "no-such-model"], "no-such-model"),
    "missing data root": (["--data-root", "{tmp}/no-data-here"], "no-data-here: there is no folder there"),
    "mistyped device": (["--device", "gpu0"], "--device 'gpu0': expected auto, cpu, cuda or cuda:N"),
    "cuda without a GPU": (["--device", "cuda"], "--device cuda: this machine has no CUDA device visible to torch"),
    "zero batch size": (["--batch-size", "0"], "--batch-size must be at least 1"),
    "offline, data missing": (["--tasks", "SciFact", "--data-root", "{tmp}"], "offline mode is set (HYPERRET_OFFLINE)"),
}


@pytest.mark.parametrize("case", BAD_RUNS)
def test_a_bad_run_argument_is_answered_before_torch_and_mteb(case, tmp_path, data_root):
    """What makes a refusal take half a minute is importing torch and mteb: a bad argument
    is refused without either (``benchmarks/bad_arguments.py`` times it)."""
    extra, message = BAD_RUNS[case]
    argv = ["run", "--tasks", "STS12", "--data-root", str(data_root), "--output-dir", str(tmp_path / "results"),
            *(arg.format(tmp=tmp_path) for arg in extra)]
    # CUDA_VISIBLE_DEVICES hides any GPU, so that the CUDA case holds on a GPU machine too.
    done = subprocess.run([sys.executable, "-c", RUN_CLI, *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=child_env(HYPERRET_OFFLINE="1", CUDA_VISIBLE_DEVICES=""))
    assert done.returncode == 2, (done.stdout[-1000:], done.stderr[-2000:])
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "HEAVY=\n" in done.stdout, done.stdout[-500:]
    assert not (tmp_path / "results").exists()
