"""``hyperret-mteb``: mteb's own command line with our models in its registry.

mteb has no plugin hook through which an installed package could add models to its
registry, so ``mteb run -m hyperret/hicl-minilm-l6`` in a plain ``mteb`` process would
look the name up on the Hugging Face hub. This runs mteb's CLI after importing
hyperret_eval (which registers every named recipe as ``hyperret/<recipe name>``), and
turns our errors (a checkpoint not yet trained, no data root) into one line and exit
status 2, as ``hyperret-eval`` does::

    hyperret-mteb run -m hyperret/hicl-minilm-l6 -t STS12 --output-folder results

A folder or recipe file given to ``-m`` is loaded as ``hyperret-eval run --models``
loads it (mteb itself has no hook for paths).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import hyperret_eval  # noqa: F401  (registers our models the moment mteb is imported)
from hyperret_eval.core.errors import UserError


def _register_model_path(argv: list[str]) -> None:
    """``run -m <folder or recipe file>``: mteb looks ``-m`` up in its registry or on the
    hub, so a path is loaded here, as ``hyperret-eval run --models`` would load it, and
    registered under the path as typed."""
    if not argv or argv[0] != "run":
        return
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-m", "--model")
    parser.add_argument("--device")  # mteb's: a GPU index
    known, _ = parser.parse_known_args(argv[1:])
    if not known.model or not Path(known.model).expanduser().exists():
        return
    from hyperret_eval.integrations.mteb_models import load_model, register_loaded

    device = f"cuda:{known.device}" if known.device and known.device.isdigit() else None
    register_loaded(known.model, load_model(known.model, device=device))


def main() -> int:
    from mteb.cli import main as mteb_main

    try:
        _register_model_path(sys.argv[1:])
        mteb_main()
    except UserError as exc:
        print(f"hyperret-mteb: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
