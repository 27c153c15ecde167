"""How the package is layered: its import graph, the cycles in it, the floor each module
stands on, module sizes, and the path one command takes through the code.

The floors and the import graph come from ``tests/layering.py`` (what the tests check);
this script adds module sizes and, with ``--trace``, the calls one command makes.

Dynamic part (``--trace``): ``hyperret-eval run --tasks SciFact --models hypencoder`` on a
small copy of SciFact (10 test queries) in a throwaway cache, with an already trained
Hypencoder checkpoint linked in under the small data's fingerprint (so nothing trains),
traced with ``sys.settrace`` (mteb is imported, and our models registered with it,
before the trace starts). Every call into a package function is attributed to the
nearest package function below it on the stack (through mteb's and torch's frames);
comprehensions count as their enclosing function. Distinct caller -> callee pairs are
counted, so the figures do not grow with the data; a call "goes up" when the callee's
floor is above the caller's, and is "by import" when the caller's module imports the
callee's (otherwise it is a callback handed down, such as a progress function).

    python benchmarks/layering.py [--trace --data-root ../shared/data --checkpoint DIR] [--label TEXT] --output FILE
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.layering import FLOOR_NAMES, cycles, floor_of, floor_violations, import_graph, package_modules  # noqa: E402

COMPREHENSIONS = {"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"}


def sizes(root: Path) -> dict:
    modules = package_modules(root)
    lines = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules.items()}
    floors: dict[str, int] = {}
    for name, count in lines.items():
        floors[FLOOR_NAMES[floor_of(name)]] = floors.get(FLOOR_NAMES[floor_of(name)], 0) + count
    return {"modules": len(lines), "total_lines": sum(lines.values()), "largest": max(lines.values()),
            "by_floor": {name: floors.get(name, 0) for name in FLOOR_NAMES}, "by_module": lines}


class CallTracer:
    """Distinct caller -> callee pairs among the package's functions while it runs."""

    def __init__(self, root: Path) -> None:
        self.names = {str(path.resolve()): name for name, path in package_modules(root).items()}
        self.edges: set[tuple[str, str]] = set()

    def _ours(self, frame) -> str | None:
        return self.names.get(frame.f_code.co_filename)

    def __call__(self, frame, event, arg):
        module = self._ours(frame)
        name = frame.f_code.co_name
        # Module and class bodies (run once, on import) are not calls; nor are comprehensions.
        if module is None or name in COMPREHENSIONS or not frame.f_code.co_flags & inspect.CO_OPTIMIZED:
            return None
        caller = frame.f_back
        while caller is not None and (self._ours(caller) is None or caller.f_code.co_name in COMPREHENSIONS):
            caller = caller.f_back
        source = "<outside>" if caller is None or caller.f_code.co_name == "<module>" \
            else f"{self._ours(caller)}:{caller.f_code.co_qualname}"
        self.edges.add((source, f"{module}:{frame.f_code.co_qualname}"))
        return None


def _small_scifact(source: Path, target: Path, queries: int = 10, extra_docs: int = 60) -> None:
    """SciFact's first ``queries`` judged test queries and the first as many training
    queries, their documents, and ``extra_docs`` more as distractors."""
    (target / "qrels").mkdir(parents=True)
    keep_docs, keep_queries = set(), set()
    for split in ("test", "train"):
        lines = (source / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        rows, chosen = [], []
        for row in lines[1:]:
            qid, doc = row.split("\t")[:2]
            if qid not in chosen and len(chosen) == queries:
                continue
            chosen += [qid] if qid not in chosen else []
            rows.append(row)
            keep_docs.add(doc)
        keep_queries.update(chosen)
        (target / "qrels" / f"{split}.tsv").write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    for name, keep, extra in (("queries.jsonl", keep_queries, 0), ("corpus.jsonl", keep_docs, extra_docs)):
        with open(source / name, encoding="utf-8") as fin, open(target / name, "w", encoding="utf-8") as fout:
            for line in fin:
                if json.loads(line)["_id"] in keep:
                    fout.write(line)
                elif extra:
                    extra -= 1
                    fout.write(line)


def _resolve_model(name: str, data_root: Path):
    from hyperret_eval.catalogue.models import resolve_model

    return resolve_model(name, data_root)


def trace_run(root: Path, data_root: Path, checkpoint: Path, graph: dict[str, set[str]]) -> dict:
    """The path of ``run --tasks SciFact --models hypencoder`` (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="hyperret-layering-") as scratch:
        scratch = Path(scratch)
        os.environ["HYPERRET_CACHE"] = str(scratch / "cache")
        small = scratch / "data"
        _small_scifact(data_root / "beir" / "scifact", small / "beir" / "scifact")
        located = _resolve_model("hypencoder", small).checkpoint
        located.path.parent.mkdir(parents=True)
        located.path.symlink_to(checkpoint.resolve())
        import mteb  # noqa: F401  (our models register with mteb on import, before the trace starts)

        from hyperret_eval.cli import main

        argv = ["run", "--tasks", "SciFact", "--models", "hypencoder", "--data-root", str(small),
                "--output-dir", str(scratch / "results"), "--device", "cpu"]
        tracer = CallTracer(root)
        sys.settrace(tracer)
        try:
            status = main(argv)
        finally:
            sys.settrace(None)
        if status != 0:
            raise SystemExit(f"the traced run failed with status {status}")
    edges = sorted(tracer.edges)
    crossing = [(a, b) for a, b in edges if a != "<outside>" and a.split(":")[0] != b.split(":")[0]]
    up = [(a, b) for a, b in crossing if floor_of(b.split(":")[0]) > floor_of(a.split(":")[0])]
    by_import = [(a, b) for a, b in up if b.split(":")[0] in graph.get(a.split(":")[0], set())]
    return {
        "command": "hyperret-eval " + " ".join(argv[:5]),
        "data": "SciFact, first 10 test queries, their documents and 60 more",
        "modules_visited": sorted({b.split(":")[0] for _, b in edges}),
        "calls": len(edges),
        "calls_between_modules": len(crossing),
        "calls_up": len(up),
        "calls_up_by_import": len(by_import),
        "up": [f"{a} -> {b}" for a, b in up],
        "edges": [f"{a} -> {b}" for a, b in edges],
    }


def measure(root: Path, trace: bool = False, data_root: Path | None = None, checkpoint: Path | None = None,
            label: str | None = None) -> dict:
    graph = import_graph(root)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    report = {
        "measured": label or commit.stdout.strip() or str(root),
        "import_cycles": cycles(graph),
        "modules_in_cycles": sum(len(c) for c in cycles(graph)),
        "floor_violations": floor_violations(graph),
        "sizes": sizes(root),
    }
    if trace:
        report["run_path"] = trace_run(root, data_root, checkpoint, graph)
    return report


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", action="store_true", help="also trace `run --tasks SciFact --models hypencoder`")
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--checkpoint", help="a trained Hypencoder checkpoint folder (default: the hypencoder "
                                             "recipe's under ~/.cache/hyperret-eval/checkpoints)")
    parser.add_argument("--label", help="what is measured (default: the commit of the package's checkout); for a "
                                        "copy outside git, e.g. git archive COMMIT hyperret_eval | tar -x -C DIR")
    parser.add_argument("--output", help="JSON file to write (default: print)")
    args = parser.parse_args(argv)
    import hyperret_eval

    root = Path(hyperret_eval.__file__).resolve().parent
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if args.trace and checkpoint is None:
        trained = sorted((Path.home() / ".cache/hyperret-eval/checkpoints/hypencoder-minilm-l6").glob("*/training"))
        if not trained:
            raise SystemExit("no trained hypencoder checkpoint found; pass --checkpoint")
        checkpoint = trained[0].parent
    report = measure(root, args.trace, Path(args.data_root).resolve(), checkpoint, args.label)
    text = json.dumps(report, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
