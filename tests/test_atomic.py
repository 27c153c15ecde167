"""Atomic writes: a failed write (an exception, a full disk, no permission) leaves the old
version and no temporary file; leftovers of killed writers are tidied by the next write.
A writer killed with SIGKILL at any moment leaves the old version or the new one, whole:
the killed writers are child processes that import only :mod:`hyperret_eval.core.atomic`."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyperret_eval.core import atomic
from hyperret_eval.core.errors import WriteError
from tests.conftest import child_env, files_under


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out" / "result.json"
    atomic.write_json(target, {"v": 1})

    def half_writer(path):
        path.write_text('{"v": 2', encoding="utf-8")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic.write_with(target, half_writer)
    assert target.read_text(encoding="utf-8").strip() == '{\n  "v": 1\n}'
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_disk_full_while_writing_names_the_target(tmp_path):
    target = tmp_path / "result.json"
    atomic.write_json(target, {"v": 1})

    def fills_the_disk(path):
        path.write_text('{"v": 2, "scores": [', encoding="utf-8")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteError, match=rf"cannot write {re.escape(str(target))}: No space left on device$") as err:
        atomic.write_with(target, fills_the_disk)
    assert err.value.exit_code != 0
    assert json.loads(target.read_text()) == {"v": 1}
    assert _names(tmp_path) == ["result.json"]


def test_disk_full_when_flushing_a_folder_keeps_the_old_folder(tmp_path, monkeypatch):
    """Delayed allocation and network file systems report a full disk at fsync."""
    target = tmp_path / "checkpoint"
    atomic.write_directory(target, lambda d: (d / "weights").write_bytes(b"old"))

    def no_space(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(atomic, "_sync", no_space)
    with pytest.raises(WriteError, match=rf"cannot write {re.escape(str(target))}: No space left on device$"):
        atomic.write_directory(target, lambda d: (d / "weights").write_bytes(b"new" * 1000))
    assert (target / "weights").read_bytes() == b"old"
    assert _names(tmp_path) == ["checkpoint"]


def test_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "leaderboard"
    atomic.write_directory(target, lambda d: (d / "README.md").write_text("old"))
    real_replace, calls = os.replace, []

    def second_rename_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="Input/output error"):
        atomic.write_directory(target, lambda d: (d / "README.md").write_text("new"))
    assert (target / "README.md").read_text() == "old"
    assert _names(tmp_path) == ["leaderboard"]


def test_a_file_where_the_folder_should_be(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    target = tmp_path / "results" / "model" / "STS12.json"
    with pytest.raises(WriteError, match=rf"cannot write {re.escape(str(target))}: {re.escape(str(tmp_path / 'results'))} is a file, not a folder$"):
        atomic.write_json(target, {})
    with pytest.raises(WriteError, match=rf"{re.escape(str(tmp_path / 'results'))} is a file, not a folder \(see --output-dir\)"):
        atomic.check_writable_folder(tmp_path / "results" / "model", "--output-dir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the file-as-folder test covers it")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    try:
        with pytest.raises(WriteError, match="Permission denied"):
            atomic.write_json(folder / "a.json", {})
        with pytest.raises(WriteError, match="is not writable"):
            atomic.check_writable_folder(folder / "new" / "deeper", "--output-dir")
    finally:
        folder.chmod(0o700)
    assert _names(folder) == []


def test_check_writable_folder_creates_nothing(tmp_path):
    atomic.check_writable_folder(tmp_path / "a" / "b", "--output-dir")
    assert _names(tmp_path) == []


def test_other_errors_pass_through_unchanged(tmp_path):
    def reads_a_missing_file(path):
        (tmp_path / "missing").read_text()

    with pytest.raises(FileNotFoundError):
        atomic.write_with(tmp_path / "out.json", reads_a_missing_file)
    assert _names(tmp_path) == []


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_recover_removes_only_dead_writers_leftovers_on_this_host(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("{}")
    dead, host = _dead_pid(), atomic._HOST
    stale = [f".result.json.tmp.{host}.{dead}.abc123.tmp", f".result.json.partial.{host}.{dead}.x_1"]
    kept = [f".result.json.tmp.{host}.{os.getpid()}.def456.tmp",  # this process: maybe writing now
            f".result.json.tmp.otherhost.{dead}.ghi789.tmp",     # another host: cannot tell
            ".result.json.backup"]                                 # not ours at all
    for name in stale + kept:
        (tmp_path / name).mkdir() if "partial" in name else (tmp_path / name).write_text("{")
    atomic.recover(target)
    assert _names(tmp_path) == sorted(kept + ["result.json"])


def test_recover_puts_back_a_folder_moved_aside_by_a_killed_swap(tmp_path):
    target = tmp_path / "checkpoint"
    old = tmp_path / f".checkpoint.old.{atomic._HOST}.{_dead_pid()}.q1w2"
    (old / atomic.PREVIOUS).mkdir(parents=True)
    (old / atomic.PREVIOUS / "weights").write_text("step 50")
    atomic.recover(target)
    assert (target / "weights").read_text() == "step 50"
    assert _names(tmp_path) == ["checkpoint"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_writes_respect_the_umask(tmp_path, umask):
    """mkstemp and mkdtemp make 0600/0700 whatever the umask; what we write must not."""
    previous = os.umask(umask)
    try:
        atomic.write_json(tmp_path / "result.json", {"a": 1})
        atomic.write_directory(tmp_path / "board", lambda staging: (staging / "index.html").write_text("x"))
    finally:
        os.umask(previous)
    assert (tmp_path / "result.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "board").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "board" / "index.html").stat().st_mode & 0o777 == 0o666 & ~umask


# --- writers killed mid-write -------------------------------------------------------------

CHILD = r"""
import json, os, sys, time
from pathlib import Path
from hyperret_eval.core import atomic

mode, target = sys.argv[1], Path(sys.argv[2])

def say(word):
    print(word, flush=True)

def block():
    say("blocked")
    time.sleep(600)

def version(n):  # several MB, self-checking: every item equals the version number
    return {"version": n, "items": [n] * 500_000}

if mode == "rewrite":  # rewrite a big JSON file forever
    n = int(sys.argv[3])
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
    return subprocess.Popen([sys.executable, "-c", CHILD, mode, str(target), *extra], stdout=subprocess.PIPE,
                            text=True, env=child_env())


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


@pytest.mark.slow
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
    assert files_under(target.parent) == ["SciFact.json"], "the next write removes what killed writers left"


@pytest.mark.slow
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
    assert files_under(tmp_path) == ["SciFact.json"]


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
    assert files_under(tmp_path) == ["checkpoint", "checkpoint/config.json", "checkpoint/weights.bin"]


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
    assert files_under(tmp_path) == ["checkpoint", "checkpoint/config.json", "checkpoint/weights.bin"]
