"""Every download has an overall deadline and a size cap, and leaves nothing behind: BEIR
zips and hub calls against loopback servers that trickle their answer one byte at a time
(each read succeeds, so only an overall deadline ends them), with deadlines of a second or
two so that the tests are quick. Each server gives up after :data:`TRICKLE_SECONDS`, so a
fetch without a deadline ends too (later), and the test fails rather than hangs."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hyperret_eval.core.errors import DataNotFoundError, HubError
from hyperret_eval.data import download, sources
from hyperret_eval.data.fetch_limits import DEADLINE_ENV, MAX_BYTES_ENV
from hyperret_eval.data.sources import Source

TRICKLE_SECONDS = 6.0
DEADLINE = "1.5"


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a 200 and a large declared body sent one byte every 0.1 s."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if self.path.startswith("/api/") else "application/zip")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        end = time.monotonic() + TRICKLE_SECONDS
        try:
            while time.monotonic() < end:
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the client hung up

    def log_message(self, *args) -> None:
        pass


class _Redirect(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "file:///etc/passwd")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def trickle():
    server, base = _serve(_Trickle)
    yield base
    server.shutdown()
    server.server_close()


@pytest.fixture
def online(monkeypatch):
    for name in download.OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def test_a_trickling_beir_host_stops_at_the_deadline_and_leaves_nothing(trickle, online, tmp_path, monkeypatch):
    monkeypatch.setenv(DEADLINE_ENV, DEADLINE)
    root = tmp_path / "data"
    source = Source(format="beir", path="beir/slow", beir_url=f"{trickle}/slow.zip")
    start = time.monotonic()
    with pytest.raises(DataNotFoundError, match=f"did not finish within its {DEADLINE} s deadline"):
        sources.load("Slow", source, "test", root)
    assert time.monotonic() - start < TRICKLE_SECONDS - 2
    assert _leftovers(root / "beir") == [] and not (root / "beir" / "slow").exists()


def test_a_download_larger_than_the_cap_is_refused(http_folder, online, tmp_path, monkeypatch):
    www, base, _ = http_folder
    (www / "big.zip").write_bytes(b"x" * 5000)
    monkeypatch.setenv(MAX_BYTES_ENV, "1000")
    root = tmp_path / "data"
    with pytest.raises(DataNotFoundError, match="more than its 1000 byte cap"):
        sources.load("Big", Source(format="beir", path="beir/big", beir_url=f"{base}/big.zip"), "test", root)
    assert _leftovers(root / "beir") == []


@pytest.mark.parametrize("variable, value", [(DEADLINE_ENV, "-1"), (DEADLINE_ENV, "soon"), (MAX_BYTES_ENV, "0")])
def test_bad_limits_are_a_message_naming_the_variable(http_folder, online, tmp_path, monkeypatch, variable, value):
    _, base, _ = http_folder
    monkeypatch.setenv(variable, value)
    with pytest.raises(Exception, match=f"{variable}={value!r}: expected a positive"):
        download.download_beir_zip(f"{base}/x.zip", tmp_path / "data" / "x")


def test_a_redirect_to_a_file_url_is_not_followed(online, tmp_path):
    server, base = _serve(_Redirect)
    try:
        with pytest.raises(download.DownloadError) as err:
            download.download_beir_zip(f"{base}/x.zip", tmp_path / "data" / "x")
    finally:
        server.shutdown()
        server.server_close()
    assert "file" in str(err.value) and not (tmp_path / "data" / "x").exists()


def test_a_killed_download_leaves_nothing_once_the_next_one_runs(trickle, http_folder, online, tmp_path):
    """A download killed with SIGKILL cannot tidy up; its staging folder is named after its
    process, and the next download of the same dataset removes it."""
    destination = tmp_path / "data" / "beir" / "slow"
    script = ("import sys; from pathlib import Path; from hyperret_eval.data import download; "
              "download.download_beir_zip(sys.argv[1], Path(sys.argv[2]))")
    child = subprocess.Popen([sys.executable, "-c", script, f"{trickle}/slow.zip", str(destination)],
                             env={k: v for k, v in os.environ.items() if k not in download.OFFLINE_ENV})
    try:
        deadline = time.monotonic() + 60
        while not _leftovers(destination.parent) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert _leftovers(destination.parent), "the child never started downloading"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    _, base, _ = http_folder
    with pytest.raises(download.DownloadError):  # 404: this one fails too, and tidies first
        download.download_beir_zip(f"{base}/absent.zip", destination)
    assert _leftovers(destination.parent) == []


def test_a_hub_whose_answer_trickles_stops_at_the_deadline(trickle, online, tmp_path, monkeypatch):
    from hyperret_eval.models.hub import fetch_snapshot

    monkeypatch.setenv("HF_ENDPOINT", trickle)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv(DEADLINE_ENV, DEADLINE)
    start = time.monotonic()
    with pytest.raises(HubError, match="deadline"):
        fetch_snapshot("org/slow-model")
    assert time.monotonic() - start < TRICKLE_SECONDS - 2


def test_a_hub_model_larger_than_the_cap_is_refused_and_its_partial_files_removed(mock_hub, tmp_path, monkeypatch):
    from hyperret_eval.models.hub import fetch_snapshot

    folder = tmp_path / "big-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "model.safetensors").write_bytes(b"\0" * 200_000)
    mock_hub.serve("org/big", "0" * 40, folder)
    monkeypatch.setenv(MAX_BYTES_ENV, "100000")
    with pytest.raises(HubError, match="byte cap"):
        fetch_snapshot("org/big")
    cache = Path(os.environ["HF_HUB_CACHE"])
    assert not list(cache.rglob("*.incomplete"))
    assert not list(cache.rglob("model.safetensors"))


def test_a_hub_dataset_whose_answer_trickles_stops_at_the_deadline(trickle, online, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", trickle)
    monkeypatch.setenv(DEADLINE_ENV, DEADLINE)
    destination = tmp_path / "data" / "hf" / "org__slow"
    start = time.monotonic()
    with pytest.raises(download.DownloadError, match="deadline"):
        download.download_hf_dataset("org/slow", None, destination)
    assert time.monotonic() - start < TRICKLE_SECONDS - 2
    assert _leftovers(destination.parent) == [] and not destination.exists()
