"""hyperret-eval: evaluate HiCL, Hypencoder and sentence-transformers baselines on STS and
BEIR-style retrieval through MTEB's evaluators and ir-measures.

Importing the package registers its models with mteb, so that
``mteb.get_model("hyperret/hicl-minilm-l6")`` works: at once if mteb is already imported,
else the moment it is. Importing mteb (and torch under it) takes half a minute on a cold
start, so the package does not do it itself: ``hyperret-eval --help`` and ``list`` never
need it. Without mteb installed (``benchmarks/gpu_check.py`` runs on a bare GPU image)
there is nothing to register.
"""

import sys
from importlib.abc import MetaPathFinder
from importlib.util import find_spec

__version__ = "0.1.0"


def _register_with_mteb() -> None:
    from hyperret_eval.integrations.mteb_models import register

    register()


class _RegisterWhenMtebLoads(MetaPathFinder):
    """Finds nothing itself: when ``mteb`` is about to be imported, it lets the usual finder
    find it and has the module's loader register our models once mteb has loaded."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "mteb":
            return None
        sys.meta_path.remove(self)  # once only, and so that find_spec below finds the real mteb
        spec = find_spec("mteb")
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module) -> None:
            load(module)
            _register_with_mteb()

        spec.loader.exec_module = exec_module  # this loader object serves this one import only
        return spec


if "mteb" in sys.modules:
    _register_with_mteb()
elif find_spec("mteb") is not None:
    sys.meta_path.insert(0, _RegisterWhenMtebLoads())
