"""What `hyperret-eval run --tasks STSBenchmark --models minilm` costs against the STS-B
evaluation alone, measured side by side in one invocation of this script.

Three child processes, each timed whole (CPU time: user + system, from the children's
rusage; and wall time), interleaved `--repeats` times so that a change in the machine's
load falls on all of them alike:

- ``run``: the command line as a user types it (with the SentEval protocol for STS-B, on
  by default);
- ``run --no-senteval``: the same without the papers' protocol;
- ``alone``: the STS-B evaluation by itself: import, load MiniLM, read STS-B, one
  ``mteb.evaluate`` (which also reports the time of that call alone).

The goal is ``run`` at most about twice ``alone``: the SentEval protocol encodes only
the STS sets the run asked for.
Writes benchmarks/results/sts_run_cost.json.

    python benchmarks/sts_run_cost.py --data-root ../shared/data [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hyperret_eval.core import atomic
from hyperret_eval.core.provenance import package_versions

REPO = Path(__file__).resolve().parents[1]

ALONE = """
import json, sys, time
from pathlib import Path
import mteb
from hyperret_eval.catalogue.models import resolve_model
from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.evaluation.task_data import load_task_data
from hyperret_eval.integrations.mteb_loader import load_for_mteb
from hyperret_eval.integrations.mteb_tasks import build_task

root = Path(sys.argv[1])
spec = load_catalogue()["STSBenchmark"]
task = build_task(spec, load_task_data(spec, root), dataset_path="stsb", dataset_revision="stsb")
model = load_for_mteb(resolve_model("minilm"), "cpu")
started = time.perf_counter()
result = mteb.evaluate(model, task, cache=None, overwrite_strategy="always", show_progress_bar=False)
print(json.dumps({"evaluate_s": time.perf_counter() - started, "main_score": result.task_results[0].get_score()}))
"""


def timed(command: list[str]) -> dict:
    """Run ``command``; its wall time, its CPU time (user + system) and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "stdout": done.stdout}


def run_command(data_root: Path, output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hyperret_eval.cli", "run", "--tasks", "STSBenchmark", "--models", "minilm",
            "--data-root", str(data_root), "--output-dir", str(output), "--device", "cpu", *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "sts_run_cost.json"))
    args = parser.parse_args()
    data_root = Path(args.data_root).resolve()

    samples: dict[str, list[dict]] = {"run": [], "run --no-senteval": [], "alone": []}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for name in samples:
                if name == "alone":
                    sample = timed([sys.executable, "-c", ALONE, str(data_root)])
                    sample.update(json.loads(sample.pop("stdout").strip().splitlines()[-1]))
                else:
                    output = Path(scratch) / f"{repeat}-{len(samples[name])}-{name.replace(' ', '')}"
                    sample = timed(run_command(data_root, output, *name.split()[1:]))
                    sample.pop("stdout")
                    (manifest,) = (output / "runs").glob("*.json")
                    entry = json.loads(manifest.read_text())["results"][0]
                    sample.update({"main_score": entry["main_score"], "mteb_evaluate_s": entry["wall_time_s"]})
                print(name, sample, flush=True)
                samples[name].append(sample)

    def median(name: str, key: str) -> float:
        return round(statistics.median(s[key] for s in samples[name]), 2)

    body = {
        "what": "hyperret-eval run --tasks STSBenchmark --models minilm (whole process) against the STS-B "
                "evaluation alone (a process that loads MiniLM and runs mteb.evaluate on STS-B)",
        "command": "python benchmarks/sts_run_cost.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg(), "platform": platform.platform(),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "packages": package_versions(),
        "samples": samples,
        "median_cpu_s": {name: median(name, "cpu_s") for name in samples},
        "median_wall_s": {name: median(name, "wall_s") for name in samples},
        "ratio_cpu": {
            "run / alone": round(median("run", "cpu_s") / median("alone", "cpu_s"), 2),
            "run --no-senteval / alone": round(median("run --no-senteval", "cpu_s") / median("alone", "cpu_s"), 2),
        },
        "ratio_wall": {
            "run / alone": round(median("run", "wall_s") / median("alone", "wall_s"), 2),
            "run --no-senteval / alone": round(median("run --no-senteval", "wall_s") / median("alone", "wall_s"), 2),
        },
    }
    atomic.write_json(Path(args.output), body)
    print(json.dumps({k: body[k] for k in ("median_cpu_s", "ratio_cpu", "ratio_wall")}, indent=2))


if __name__ == "__main__":
    main()
