"""How long `hyperret-eval run` takes to refuse a bad argument, against `hyperret-eval
--version` (the interpreter starting and importing the package: the floor), measured
side by side in one invocation of this script, each case `--repeats` times interleaved.

Each refusal comes before torch and mteb are imported (tests/test_startup.py checks
that); this measures what that buys. Writes benchmarks/results/bad_arguments.json.

    python benchmarks/bad_arguments.py --data-root ../shared/data [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report_header import report_header

from hyperret_eval.core import atomic

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "--version": ["--version"],
    "unknown task": ["run", "--tasks", "STS99"],
    "unknown model": ["run", "--tasks", "STS12", "--models", "no-such-model"],
    "missing data root": ["run", "--tasks", "STS12", "--data-root", "{scratch}/no-data-here"],
    "--device cuda without a GPU": ["run", "--tasks", "STS12", "--device", "cuda"],
}


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hyperret_eval.cli", *argv], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""})
    wall = time.perf_counter() - started
    if done.returncode != (0 if argv == ["--version"] else 2):
        sys.exit(f"{' '.join(argv)}: exit status {done.returncode}\n{done.stderr}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "bad_arguments.json"))
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeats):
            for name, argv in CASES.items():
                argv = [arg.format(scratch=scratch) for arg in argv]
                if argv[0] == "run" and "--data-root" not in argv:
                    argv += ["--data-root", str(Path(args.data_root).resolve())]
                samples[name].append(round(timed([*argv, *(["--output-dir", f"{scratch}/results"]
                                                           if argv[0] == "run" else [])]), 3))
    medians = {name: round(statistics.median(walls), 3) for name, walls in samples.items()}
    body = {**report_header("bad_arguments", load_average_at_end=os.getloadavg()),
            "what": "wall seconds for `hyperret-eval run` to refuse a bad argument (exit status 2), whole process",
            "samples_wall_s": samples, "median_wall_s": medians,
            "ratio_to_version": {name: round(medians[name] / medians["--version"], 2) for name in CASES}}
    atomic.write_json(Path(args.output), body)
    print(json.dumps({k: body[k] for k in ("median_wall_s", "ratio_to_version")}, indent=2))


if __name__ == "__main__":
    main()
