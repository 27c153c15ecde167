"""benchmarks/gpu_check.py: as CI runs it (``--device cpu --small``) every check passes
and the JSON has the sections a GPU run's has; ``--device cuda`` without CUDA says so in
one line; a failing check is recorded while the others still run, and full-size checks
the time budget cannot cover are skipped."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO, child_env

SCRIPT = REPO / "benchmarks" / "gpu_check.py"
CHECK_ORDER = ["exhaustive", "graph", "training", "torchrun", "throughput", "msmarco"]


def _run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=child_env(), capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_cpu_small_run_passes_every_check(tmp_path):
    output = tmp_path / "x.json"
    done = _run_script("--device", "cpu", "--small", "--output", str(output))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    report = json.loads(output.read_text(encoding="utf-8"))
    assert {"device", "packages", "settings", "summary", "checks", "wall_seconds"} <= report.keys()
    assert report["finished"] and report["device"]["device"] == "cpu" and "torch" in report["packages"]
    assert [(c["check"], c["size"]) for c in report["checks"]] == [(name, "small") for name in CHECK_ORDER]
    assert all(c["status"] == "passed" and c["seconds"] > 0 for c in report["checks"]), report["checks"]
    assert report["summary"] == {"passed": 6, "failed": 0, "skipped": 0, "all_passed": True}
    for name in CHECK_ORDER:  # one line per check
        assert any(line.split()[:3] == [name, "small", "PASSED"] for line in done.stdout.splitlines()), done.stdout

    checks = {c["check"]: c for c in report["checks"]}
    assert checks["exhaustive"]["dtypes"].keys() == {"float32", "bfloat16", "float16"}
    assert checks["exhaustive"]["dtypes"]["float32"]["recall_at_10_with_ties"] == 1.0
    assert all(m["batched_scoring"] for m in checks["graph"]["dtypes"].values())
    for model in ("hypencoder", "be"):
        losses = checks["training"]["models"][model]
        assert len(losses["autocast_losses"]) == 5 and losses["recorded_autocast"] is None  # float32 on the CPU
    assert checks["torchrun"]["worker"]["backend"] == "gloo"
    assert checks["throughput"]["dtypes"].keys() == {"bfloat16", "float32"}
    msmarco = checks["msmarco"]
    assert msmarco["sharded_equals_single"] and msmarco["float32_score_error"] <= 1e-3
    assert [(e["ncandidates"], e["max_iter"]) for e in msmarco["efficient"]] == [(64, 16), (328, 20)]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_fails_in_one_line(tmp_path):
    output = tmp_path / "x.json"
    done = _run_script("--device", "cuda", "--output", str(output))
    said = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    assert len(said.splitlines()) == 1 and "CUDA" in said and "Traceback" not in said, said
    assert not output.exists()


@pytest.fixture
def gpu_check(monkeypatch):
    """The script as a module, with two stand-in checks in place of the real ones."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import gpu_check

    def broken(device, **settings):
        raise ValueError("a check that raises")

    def reader(device, *, output):
        """Reads the JSON as it stands while this check runs: what the checks before it left."""
        report = json.loads(output.read_text(encoding="utf-8"))
        return {"passed": True, "summary": "read", "seen": [(c["check"], c["status"]) for c in report["checks"]]}

    return gpu_check, broken, reader


def _main(gpu_check, monkeypatch, checks, *args: str) -> int:
    monkeypatch.setattr(gpu_check, "CHECKS", tuple(checks))
    monkeypatch.setattr(gpu_check, "CHECK_NAMES", tuple(check.name for check in checks))
    monkeypatch.setattr(sys, "argv", ["gpu_check.py", "--device", "cpu", *args])
    return gpu_check.main()


def test_a_failing_check_is_recorded_and_the_rest_still_run(gpu_check, monkeypatch, tmp_path, capsys):
    module, broken, reader = gpu_check
    output = tmp_path / "x.json"
    checks = [module.Check("broken", broken, {"small": {}}, 1),
              module.Check("reader", reader, {"small": {"output": output}}, 1)]
    assert _main(module, monkeypatch, checks, "--small", "--output", str(output)) == 1
    report = json.loads(output.read_text(encoding="utf-8"))
    first, second = report["checks"]
    assert first["status"] == "failed" and first["error"] == "ValueError: a check that raises"
    assert "Traceback" in first["traceback"]
    assert second["status"] == "passed" and second["seen"] == [["broken", "failed"]]  # the JSON was rewritten
    assert report["summary"]["failed"] == 1 and report["finished"]
    assert [line.split()[:3] for line in capsys.readouterr().out.splitlines()[:2]] == [
        ["broken", "small", "FAILED"], ["reader", "small", "PASSED"]]


def test_full_size_checks_beyond_the_budget_are_skipped(gpu_check, monkeypatch, tmp_path):
    module, _, reader = gpu_check
    output = tmp_path / "x.json"
    sizes = {"small": {"output": output}, "full": {"output": output}}
    checks = [module.Check("cheap", reader, sizes, 0), module.Check("dear", reader, sizes, 60)]
    assert _main(module, monkeypatch, checks, "--budget-s", "30", "--output", str(output)) == 0
    report = json.loads(output.read_text(encoding="utf-8"))
    assert [(c["check"], c["size"], c["status"]) for c in report["checks"]] == [
        ("cheap", "small", "passed"), ("dear", "small", "passed"), ("cheap", "full", "passed"),
        ("dear", "full", "skipped")]
    assert "estimated at 60 s" in report["checks"][-1]["summary"]
    assert report["summary"] == {"passed": 3, "failed": 0, "skipped": 1, "all_passed": False}
