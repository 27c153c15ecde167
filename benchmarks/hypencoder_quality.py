"""Hypencoder quality: nDCG@10 on SciFact test and the TREC-DL 2019 subset for the MiniLM
bi-encoder as it ships, the bi-encoder fine-tuned (BE), and Hypencoder with 2/4/6/8-layer
q-nets. BE and every Hypencoder run the same training loop on the same data (SciFact
train, the same BM25 hard negatives), steps, batch size, learning rate and seed; only
the scoring head differs. The paper's claim under test: Hypencoder beats BE trained the
same way.

A model is a recipe name (`be`, `hypencoder-4layer`: the default budget of 100 steps) or a
recipe file (benchmarks/recipes/*-300steps*.toml: the same recipes at 300 steps, and with
another seed). Each trains into the checkpoint cache (so `hyperret-eval run --models` finds
it afterwards) and is evaluated by that name into results/, exactly as `hyperret-eval run`
would. Writes benchmarks/results/hypencoder_quality.json after every model, so a partial
run still reports what it finished; a run started again skips the training already done
(checkpoints resume) and keeps the models it does not redo.

    python benchmarks/hypencoder_quality.py --data-root ../shared/data
    python benchmarks/hypencoder_quality.py --models benchmarks/recipes/hypencoder-300steps.toml
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from report_header import report_header
from hyperret_eval.catalogue.checkpoints import ensure_checkpoint, locate_checkpoint
from hyperret_eval.catalogue.recipe_files import recipe_by_name_or_file
from hyperret_eval.core import atomic
from hyperret_eval.core.bars import silence_library_bars
from hyperret_eval.evaluation.runner import RunOptions, run
from hyperret_eval.models.training_state import read_state

HERE = Path(__file__).parent
TASKS = "SciFact,TRECDL2019Subset"
TRAINED = ("hypencoder", "be", "hypencoder-4layer", "hypencoder-6layer", "hypencoder-8layer")


def evaluate(model: str, data_root: Path, output_dir: Path) -> dict[str, float]:
    argv = ["run", "--tasks", TASKS, "--models", model, "--data-root", str(data_root), "--output-dir", str(output_dir)]
    options = RunOptions(tasks=TASKS, models=model, data_root=data_root, output_dir=output_dir, device="cpu",
                         senteval=False, argv=argv)
    return {score.task: score.main_score for score in run(options).scores}


def _earlier(report_file: Path, section: str) -> dict:
    """What an earlier invocation measured (its models, their recipes): kept, so `--models`
    can add or redo some."""
    if not report_file.is_file():
        return {}
    return json.loads(report_file.read_text(encoding="utf-8")).get(section, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--models", nargs="+", default=[*TRAINED, "minilm"],
                        help="minilm, recipe names or recipe files (default: %(default)s)")
    parser.add_argument("--output", default=str(HERE / "results" / "hypencoder_quality.json"))
    parser.add_argument("--results-dir", default=str(HERE.parent / "results"))
    args = parser.parse_args()
    silence_library_bars()  # as `hyperret-eval run` and `train` do: the training bar and our lines are the log
    data_root = Path(args.data_root).resolve()
    results_dir = Path(args.results_dir).resolve()
    recipes = {key: recipe_by_name_or_file(key) for key in args.models if key != "minilm"}

    report = {
        **report_header("hypencoder_quality"),
        "metric": "nDCG@10 (MTEB retrieval main score)",
        "recipes": {**_earlier(Path(args.output), "recipes"), **{key: config.to_dict() for key, config in recipes.items()}},
        "models": _earlier(Path(args.output), "models"),
    }
    for key in args.models:
        entry: dict = {}
        if key != "minilm":
            config = recipes[key]
            checkpoint = locate_checkpoint(config, data_root)
            resumed_from = checkpoint.steps_done()
            started = time.perf_counter()
            ensure_checkpoint(checkpoint, key, "cpu")  # what `run` does: locked, logged, resumable
            state = read_state(checkpoint.path)
            entry.update(
                fingerprint=checkpoint.fingerprint,
                checkpoint=str(checkpoint.path),
                train_seconds_this_invocation=round(time.perf_counter() - started, 1),
                resumed_from_step=resumed_from,
                loss_curve=[{k: h[k] for k in ("step", "loss", "elapsed_s")} for h in state["history"]],
            )
        started = time.perf_counter()
        entry["ndcg_at_10"] = evaluate(key, data_root, results_dir)
        entry["eval_seconds"] = round(time.perf_counter() - started, 1)
        report["models"][key] = entry
        atomic.write_json(Path(args.output), report)
        scores = ", ".join(f"{task} {100 * value:.2f}" for task, value in entry["ndcg_at_10"].items())
        print(f"{key}: {scores}", flush=True)


if __name__ == "__main__":
    main()
