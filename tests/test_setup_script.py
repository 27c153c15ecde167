"""scripts/setup.sh and scripts/install-browser.sh: the system is touched only when asked,
and then with the least apt-get can do (no recommended packages, no upgrades, its output
in a log file rather than on the screen).

apt-get and id are replaced by stand-ins on PATH that record how they were called, so
nothing is installed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def stand_in(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def fake_system(tmp_path):
    """A PATH whose apt-get records its arguments (and prints a lot, as apt-get does) and
    whose id says root; the browser it should install is not where the script looks."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "apt-calls"
    stand_in(bin_dir, "apt-get", f'echo "$*" >> {calls}\n'
             '[ "$1" = install ] && for i in $(seq 200); do echo "Setting up lib$i"; done; true')
    stand_in(bin_dir, "id", "echo 0")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path),
           "CHROMIUM": str(tmp_path / "no-chromium"), "CHROMEDRIVER": str(tmp_path / "no-chromedriver")}
    env.pop("CI", None)
    return env, calls


def run_script(script: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / script), *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_browser_install_asks_apt_for_no_recommends_and_no_upgrades_and_keeps_its_output_in_a_log(fake_system):
    env, calls = fake_system
    done = run_script("install-browser.sh", env)
    assert done.returncode == 0, done.stderr
    update, install = calls.read_text().splitlines()
    assert update.startswith("update")
    words = install.split()
    assert words[0] == "install" and {"chromium", "chromium-driver", "--no-install-recommends", "--no-upgrade"} <= set(words)
    assert not {"upgrade", "dist-upgrade", "full-upgrade"} & set(words)
    assert len(done.stdout.splitlines()) <= 3, done.stdout  # not 200 lines of apt output
    assert "200 packages" in done.stdout


def test_browser_install_does_nothing_when_the_browser_is_there(fake_system, tmp_path):
    env, calls = fake_system
    for name in ("chromium", "chromedriver"):
        stand_in(tmp_path, name, "true")
    done = run_script("install-browser.sh", {**env, "CHROMIUM": str(tmp_path / "chromium"),
                                              "CHROMEDRIVER": str(tmp_path / "chromedriver")})
    assert done.returncode == 0 and not calls.exists()


def test_browser_install_without_root_says_what_to_install_and_fails(fake_system, tmp_path):
    env, calls = fake_system
    stand_in(Path(env["PATH"].split(":")[0]), "id", "echo 1000")
    done = run_script("install-browser.sh", env)
    assert done.returncode == 1 and not calls.exists()
    assert "apt-get install --no-install-recommends chromium chromium-driver" in done.stderr


def test_failed_apt_shows_the_end_of_its_log(fake_system, tmp_path):
    env, _ = fake_system
    stand_in(Path(env["PATH"].split(":")[0]), "apt-get", 'echo "E: Unable to locate package chromium"; exit 100')
    done = run_script("install-browser.sh", env)
    assert done.returncode == 1 and "Unable to locate package chromium" in done.stderr


def test_setup_refuses_an_unknown_argument_before_doing_anything(fake_system, tmp_path):
    env, calls = fake_system
    done = run_script("setup.sh", env, "--with-browsers")
    assert done.returncode == 2 and "unknown argument '--with-browsers'" in done.stderr
    assert not calls.exists()


def test_setup_help_names_the_browser_option(fake_system):
    env, _ = fake_system
    done = run_script("setup.sh", env, "--help")
    assert done.returncode == 0 and "--with-browser" in done.stdout
