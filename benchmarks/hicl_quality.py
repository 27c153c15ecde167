"""HiCL quality: average Spearman over the 7 STS tasks (MTEB protocol) for the untrained
backbone, SimCSE-trained and HiCL-trained models: same backbone, same unlabeled data,
same steps and batch size, several seeds (mean and standard deviation).

Seed 42 trains the default recipes into the checkpoint cache (so that `--models hicl`
and `--models simcse` find them) and evaluates them by those names into results/, with
the SentEval protocol too, exactly as `hyperret-eval run` would; other seeds train
beside them and are evaluated into benchmarks/results/hicl_quality_runs/. Training curves (loss
per step) go into the JSON. Writes benchmarks/results/hicl_quality.json after every
model, so a partial run still reports what it finished.

    python benchmarks/hicl_quality.py --data-root ../shared/data [--seeds 42 43 44]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from report_header import report_header
from hyperret_eval.catalogue.checkpoints import locate_checkpoint
from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.core import atomic
from hyperret_eval.core.bars import silence_library_bars
from hyperret_eval.evaluation.runner import RunOptions, run
from hyperret_eval.models.hicl.train import train

HERE = Path(__file__).parent


def evaluate_sts(model: str, data_root: Path, output_dir: Path, senteval: bool = False) -> dict[str, float]:
    options = RunOptions(tasks="STS", models=model, data_root=data_root, output_dir=output_dir, device="cpu",
                         senteval=senteval, argv=["run", "--tasks", "STS", "--models", model, "--data-root",
                                                  str(data_root), "--output-dir", str(output_dir)])
    return {score.task: score.main_score for score in run(options).scores}


def summary(per_seed: list[dict[str, float]]) -> dict[str, float]:
    averages = [sum(scores.values()) / len(scores) for scores in per_seed]
    return {
        "mean": statistics.mean(averages),
        "std": statistics.stdev(averages) if len(averages) > 1 else 0.0,
        "per_seed": averages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--output", default=str(HERE / "results" / "hicl_quality.json"))
    parser.add_argument("--eval-dir", default=str(HERE / "results" / "hicl_quality_runs"))
    parser.add_argument("--results-dir", default=str(HERE.parent / "results"), help="where seed 42 is evaluated")
    args = parser.parse_args()
    silence_library_bars()  # as `hyperret-eval run` and `train` do: the training bar and our lines are the log
    data_root = Path(args.data_root).resolve()
    eval_dir = Path(args.eval_dir).resolve()

    report = {
        **report_header("hicl_quality"),
        "recipes": {key: NAMED_RECIPES[key].config.to_dict() for key in ("hicl", "simcse")},
        "metric": "cosine Spearman (MTEB STS protocol), averaged over STS12-16, STSBenchmark, SICK-R",
        "untrained": None,
        "runs": {"simcse": [], "hicl": []},
    }

    def save() -> None:
        for key in ("simcse", "hicl"):
            if report["runs"][key]:
                report[f"{key}_summary"] = summary([r["sts"] for r in report["runs"][key]])
        atomic.write_json(Path(args.output), report)

    report["untrained"] = {"sts": evaluate_sts("minilm", data_root, eval_dir)}
    save()
    for seed in args.seeds:
        for key in ("simcse", "hicl"):
            config = NAMED_RECIPES[key].config.replace(seed=seed)
            checkpoint = locate_checkpoint(config, data_root)
            output = checkpoint.path
            trained = train(config, output, data_root, device="cpu")
            if config == NAMED_RECIPES[key].config:
                scores = evaluate_sts(key, data_root, Path(args.results_dir).resolve(), senteval=True)
            else:
                scores = evaluate_sts(str(output), data_root, eval_dir)
            report["runs"][key].append({
                "seed": seed, "checkpoint": str(output), "fingerprint": checkpoint.fingerprint, "sts": scores,
                "loss_curve": [{k: h[k] for k in ("step", "loss", "global", "local", "elapsed_s")} for h in trained.history],
            })
            save()
            print(f"{key} seed {seed}: STS average {100 * sum(scores.values()) / len(scores):.2f}", flush=True)


if __name__ == "__main__":
    main()
