"""Atomic writes: a failed write (an exception, a full disk, no permission) leaves the old
version and no temporary file; leftovers of killed writers are tidied by the next write.
Killing a real writer process is tested in test_reliability.py."""

import errno
import json
import os
import re
import subprocess

import pytest

from hyperret_eval.core import atomic
from hyperret_eval.core.errors import WriteError


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
