"""``hyperret-mteb``: mteb's own command line with our models in its registry.

mteb has no plugin hook through which an installed package could add models to its
registry, so ``mteb run -m hyperret/hicl-minilm-l6`` in a plain ``mteb`` process would
look the name up on the Hugging Face hub. This runs mteb's CLI after importing
hyperret_eval (which registers every named recipe as ``hyperret/<recipe name>``), and
turns our errors (a checkpoint not yet trained, no data root) into one line and exit
status 2, as ``hyperret-eval`` does::

    hyperret-mteb run -m hyperret/hicl-minilm-l6 -t STS12 --output-folder results
"""

from __future__ import annotations

import sys

import hyperret_eval  # noqa: F401  (registers our models the moment mteb is imported)
from hyperret_eval.core.errors import UserError


def main() -> int:
    from mteb.cli import main as mteb_main

    try:
        mteb_main()
    except UserError as exc:
        print(f"hyperret-mteb: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
