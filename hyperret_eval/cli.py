"""The ``hyperret-eval`` command line: ``run``, ``train``, ``list`` and ``publish``.

Each command imports what it needs when it runs: ``--help`` and ``list`` import neither
torch nor mteb, so they answer at once."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from hyperret_eval import __version__
from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.paths import DATA_ENV, resolve_data_root, resolve_results_dir
from hyperret_eval.models.hypencoder.mining import MINERS


def _seed(text: str) -> int:
    """``--seed``: an integer every random number generator takes."""
    from hyperret_eval.core.seeding import check_seed

    try:
        return check_seed(int(text), "--seed")
    except (ValueError, UserError) as exc:
        raise argparse.ArgumentTypeError(str(exc) if isinstance(exc, UserError) else f"{text!r} is not an integer") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperret-eval",
        description="Evaluate sentence-embedding and retrieval models on STS and BEIR-style tasks through MTEB.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="evaluate models on tasks and write MTEB result files")
    run.add_argument("--tasks", default="STS,BEIR",
                     help="comma-separated tasks, groups (STS, BEIR, NanoBEIR, TREC-DL) and BEIR-layout folders "
                          "(an entry with a '/', e.g. ./my-data) (default: STS,BEIR)")
    run.add_argument("--split", help="the split of the folders given in --tasks (default: test)")
    run.add_argument("--task-file", dest="task_files", action="append", default=[], metavar="FILE",
                     help="TOML file of more tasks, in the format of the catalogue's tasks/*.toml (repeatable)")
    run.add_argument("--models", default="minilm",
                     help="comma-separated models or recipe files (.toml/.json/.yaml); a trainable model "
                          "without a checkpoint is trained first (default: minilm)")
    run.add_argument("--data-root", help="benchmark data folder (default: $HYPERRET_DATA, else ~/.cache/hyperret-eval/data)")
    run.add_argument("--output-dir", help="results folder (default: $HYPERRET_RESULTS, else "
                                           "~/.cache/hyperret-eval/results)")
    run.add_argument("--overwrite", action="store_true",
                     help="evaluate again a model x task whose result is already in the results folder "
                          "(default: keep it and skip the evaluation)")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    run.add_argument("--batch-size", type=int, default=32, help="encoding batch size (default: 32)")
    run.add_argument("--seed", type=_seed, default=42, help="random seed (default: 42)")
    run.add_argument("--save-predictions", action="store_true",
                     help="also write each retrieval run (top-k documents per query) under "
                          "<output-dir>/<model>/<revision>/predictions/, in mteb's JSON and as a TREC run file "
                          "(<Task>.<split>.trec, read by trec_eval and ir-measures)")
    run.add_argument("--no-senteval", dest="senteval", action="store_false",
                     help="skip the SimCSE/HiCL papers' STS protocol on SentEval's copies of the STS tasks run "
                          "(on by default)")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress (one bar per model x task on a terminal, else a few plain lines each); "
                          "notes, errors and the score tables are still printed")
    training = run.add_mutually_exclusive_group()
    training.add_argument("--retrain", action="store_true",
                          help="train the trainable models' checkpoints again from scratch, even complete ones")
    training.add_argument("--no-train", dest="train_missing", action="store_false",
                          help="fail instead of training a trainable model whose checkpoint is missing")

    trainer = sub.add_parser("train", help="train a model from a named recipe or a recipe file")
    trainer.add_argument("recipe", help=f"{', '.join(NAMED_RECIPES)}, or a recipe file (.toml/.json/.yaml)")
    trainer.add_argument("--config", help="TOML, JSON or YAML file overriding recipe settings")
    trainer.add_argument("--output", help="checkpoint folder (default: <cache>/checkpoints/<name>/<fingerprint>, "
                                          "the one `run` uses)")
    trainer.add_argument("--max-steps", type=int, help="optimizer steps to train for (default: the recipe's)")
    trainer.add_argument("--seed", type=_seed, help="seed of the data order, dropout and initialisation "
                                                  "(default: the recipe's)")
    trainer.add_argument("--batch-size", type=int, help="examples per step (default: the recipe's)")
    trainer.add_argument("--data-root", help="benchmark data folder, the source of the default training text")
    trainer.add_argument("--text-file", help="HiCL/SimCSE: train on this file instead, one text per line")
    trainer.add_argument("--qnet-layers", type=int, help="Hypencoder: hidden layers of the q-net")
    trainer.add_argument("--miner", choices=MINERS, help="Hypencoder/BE: hard-negative miner")
    trainer.add_argument("--teacher-scores", help="Hypencoder/BE: query-id, doc-id, score TSV for margin-MSE")
    trainer.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")

    publisher = sub.add_parser("publish", help="check result files and publish them to the leaderboard folder")
    publisher.add_argument("results_dirs", nargs="*", metavar="RESULTS_DIR",
                           help="results folders written by `run` (default: run's, $HYPERRET_RESULTS, else "
                                "~/.cache/hyperret-eval/results)")
    publisher.add_argument("--leaderboard", default="leaderboard",
                           help="leaderboard folder: leaderboard.json, README.md, index.html and an MTEB "
                                "results/ copy (default: leaderboard/)")
    publisher.add_argument("--replace", action="store_true",
                           help="replace published scores (and benchmarks) that a different run produced")
    publisher.add_argument("--benchmarks", metavar="FILE",
                           help='search speed/quality measurements to publish ({"search_tradeoff": [...]})')
    publisher.add_argument("--baseline", default="sentence-transformers/all-MiniLM-L6-v2", metavar="MODEL",
                           help="the model every other is compared with, task by task, with a paired test where "
                                "both results kept per-query values (default: %(default)s)")
    publisher.add_argument("--withdraw", action="append", default=[], metavar="MODEL@REVISION",
                           help="take a published model revision off the leaderboard (repeatable)")

    lister = sub.add_parser("list", help="list the known tasks or models")
    lister.add_argument("what", choices=["tasks", "models"])
    lister.add_argument("--data-root", help="data folder: which datasets are present, and the training data "
                                            "that names each recipe's checkpoint")
    lister.add_argument("--task-file", dest="task_files", action="append", default=[], metavar="FILE",
                        help="TOML file of more tasks to list (repeatable)")
    return parser


def _command_run(args: argparse.Namespace, argv: list[str]) -> int:
    from hyperret_eval.evaluation.run_options import RunOptions, check_run

    options = RunOptions(
        tasks=args.tasks,
        models=args.models,
        data_root=resolve_data_root(args.data_root),
        output_dir=resolve_results_dir(args.output_dir),
        device=args.device,
        batch_size=args.batch_size,
        seed=args.seed,
        senteval=args.senteval,
        retrain=args.retrain,
        train_missing=args.train_missing,
        save_predictions=args.save_predictions,
        argv=argv,
        task_files=[Path(f).expanduser() for f in args.task_files],
        split=args.split,
        overwrite=args.overwrite,
    )
    checked = check_run(options, data_root_given=bool(args.data_root or os.environ.get(DATA_ENV)))

    from rich.console import Console
    from rich.markup import escape

    from hyperret_eval.core.distributed import close_world  # torch and mteb come in here: arguments are checked
    from hyperret_eval.core.world import current_world
    from hyperret_eval.evaluation.progress import Progress, mode_for
    from hyperret_eval.evaluation.runner import run
    from hyperret_eval.report import published_table, retrieval_metrics_table, score_table, senteval_table

    console = Console(stderr=False)
    # Unwrapped and unparsed: messages carry paths to copy (and paths may hold "[").
    progress = Progress(mode_for(args.quiet, sys.stderr), bar_stream=sys.stderr,
                        say=lambda msg: console.print(f"[bold]{escape(msg)}[/bold]", soft_wrap=True))
    try:
        report = run(options, progress, checked)
    finally:
        close_world()
    if not current_world().is_main:
        return 0  # under torchrun, rank 0 reports
    console.print(score_table(report.scores))
    measures = retrieval_metrics_table(report.scores)
    if measures is not None:
        console.print(measures)
    if report.senteval:
        console.print(senteval_table(report.senteval))
    published = published_table(report.scores, report.senteval)
    if published is not None:
        console.print(published)
    console.print(f"Results written under {escape(str(options.output_dir))}", soft_wrap=True)
    return 0


def _command_train(args: argparse.Namespace) -> int:
    import dataclasses

    from hyperret_eval.catalogue.checkpoints import ensure_checkpoint, locate_checkpoint
    from hyperret_eval.catalogue.recipe_files import load_config_file, recipe_by_name_or_file
    from hyperret_eval.catalogue.recipes import supports_data_parallel, train_recipe
    from hyperret_eval.core.bars import silence_library_bars
    from hyperret_eval.core.distributed import close_world, init_world, resolve_device
    from hyperret_eval.models.training_state import read_state

    config = recipe_by_name_or_file(args.recipe)
    if args.config:
        config = load_config_file(Path(args.config), config)
    text_file = str(Path(args.text_file).expanduser().resolve()) if args.text_file else None
    overrides = {"max_steps": args.max_steps, "seed": args.seed, "batch_size": args.batch_size,
                 "text_file": text_file, "qnet_layers": args.qnet_layers, "miner": args.miner,
                 "teacher_scores": args.teacher_scores}
    fields = {f.name for f in dataclasses.fields(config)}
    misplaced = [k for k, v in overrides.items() if v is not None and k not in fields]
    if misplaced:
        raise UserError(f"recipe {args.recipe!r} takes no {', '.join('--' + k.replace('_', '-') for k in misplaced)}")
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    data_root = None if getattr(config, "text_file", None) else resolve_data_root(args.data_root)
    device = resolve_device(args.device)
    world = init_world(device)
    if world.distributed and not supports_data_parallel(config):
        raise UserError(f"{config.name} trains in one process only (its loop has no DistributedDataParallel); "
                        "run `hyperret-eval train` without torchrun")
    device = world.device(device)
    silence_library_bars()  # the training bar is the one that counts; transformers would add its own
    try:
        if args.output:
            output = Path(args.output).expanduser().resolve()
            atomic.check_writable_folder(output, "--output")
            train_recipe(config, output, data_root, device)
        else:
            checkpoint = locate_checkpoint(config, data_root)
            ensure_checkpoint(checkpoint, args.recipe, device)
            output = checkpoint.path
    finally:
        close_world()
    if not world.is_main:
        return 0
    state = read_state(output)
    last = state["history"][-1] if state["history"] else {}
    print(f"{config.name}: {state['step']} of {config.max_steps} steps, last loss "
          f"{last.get('loss', float('nan')):.4f}; checkpoint at {output}")
    return 0


def _command_publish(args: argparse.Namespace) -> int:
    from hyperret_eval.leaderboard import publish

    summary = publish(
        [Path(d).expanduser() for d in args.results_dirs] or [resolve_results_dir()],
        Path(args.leaderboard).expanduser(),
        replace=args.replace,
        benchmarks_file=Path(args.benchmarks).expanduser() if args.benchmarks else None,
        withdraw=args.withdraw,
        baseline=args.baseline,
    )
    counts = (f"{len(summary.added)} added, {len(summary.reproduced)} reproduced, {len(summary.unchanged)} unchanged, "
              f"{len(summary.replaced)} replaced")
    if summary.withdrawn:
        counts += f", {len(summary.withdrawn)} withdrawn"
    if summary.benchmarks:
        counts += f"; search benchmarks {summary.benchmarks}"
    where = "updated" if summary.written else "already up to date"
    print(f"Leaderboard {summary.leaderboard_dir} {where}: {counts}.")
    for label, keys in (("added", summary.added), ("reproduced", summary.reproduced), ("replaced", summary.replaced),
                        ("withdrawn", summary.withdrawn)):
        tasks_by_model: dict[str, list[str]] = {}
        for model, revision, task in keys:
            tasks_by_model.setdefault(f"{model}@{revision}", []).append(task)
        for model, tasks in tasks_by_model.items():
            print(f"  {label}: {model}: {', '.join(tasks)}")
    for line in summary.skipped:
        print(f"  skipped: {line}")
    return 0


def _command_list(args: argparse.Namespace) -> int:
    from rich.console import Console

    from hyperret_eval.report import model_table, task_table

    console = Console()
    if args.what == "tasks":
        console = Console(width=max(console.width, 132))  # one line a task, also when piped (80 columns)
        task_files = [Path(f).expanduser() for f in args.task_files]
        console.print(task_table(resolve_data_root(args.data_root), task_files))
    else:
        console.print(model_table(resolve_data_root(args.data_root)))
    return 0


def _configure_logging(level: str) -> None:
    """Log records at ``level`` and above to stderr, whichever logger they come from: the
    level is set on the handler too, as some libraries set their own logger to DEBUG when
    imported (bm25s does), which the root logger's level alone does not filter."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser().parse_args(argv)
    _configure_logging(os.environ.get("HYPERRET_LOG_LEVEL", "WARNING"))
    # Deprecation chatter between mteb and sentence-transformers versions, not the user's concern.
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        if args.command == "run":
            return _command_run(args, argv)
        if args.command == "train":
            return _command_train(args)
        if args.command == "publish":
            return _command_publish(args)
        return _command_list(args)
    except UserError as exc:
        print(f"hyperret-eval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # Outside the atomic writers (which name their target): a log, a lock, a cache of
        # another library. The system's message names the file; HYPERRET_LOG_LEVEL=DEBUG shows the traceback.
        logging.getLogger("hyperret_eval").debug("failed", exc_info=True)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"hyperret-eval: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hyperret-eval: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # torchrun ... -m hyperret_eval.cli run ...
    sys.exit(main())
