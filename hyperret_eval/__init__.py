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


def load_model(name: str, **options):
    """Any model ``hyperret-eval run --models`` accepts, ready for ``mteb.evaluate``; see
    :func:`hyperret_eval.integrations.mteb_models.load_model` (imports mteb and torch)."""
    from hyperret_eval.integrations.mteb_models import load_model as load

    return load(name, **options)


def get_tasks(tasks="STS,BEIR", data_root=None, **options) -> list:
    """mteb task objects with their data read from the data root, for ``mteb.evaluate``:
    the tasks ``hyperret-eval run --tasks`` evaluates; see
    :func:`hyperret_eval.evaluation.local_tasks.get_tasks` (imports mteb)."""
    from hyperret_eval.evaluation.local_tasks import get_tasks as build

    return build(tasks, data_root, **options)


def _register_with_mteb() -> None:
    """Import the module that registers our models on import. mteb may be imported by that
    very module (``load_model`` before any ``import mteb``): the lookup then returns the
    partly run module, which registers when it finishes."""
    from importlib import import_module

    import_module("hyperret_eval.integrations.mteb_models")


class _RegisterWhenMtebLoads(MetaPathFinder):
    """Finds nothing itself: when ``mteb`` is looked up, it has the other finders find it
    and hands back their spec with a loader that registers our models once mteb has
    loaded. A lookup that imports nothing (``find_spec`` alone) leaves it in place."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "mteb":
            return None
        others = (finder for finder in sys.meta_path if finder is not self and hasattr(finder, "find_spec"))
        spec = next((found for finder in others if (found := finder.find_spec(fullname, path, target))), None)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module) -> None:
            load(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register_with_mteb()

        spec.loader.exec_module = exec_module  # a loader object made for this lookup alone
        return spec


if "mteb" in sys.modules:
    _register_with_mteb()
elif find_spec("mteb") is not None:
    sys.meta_path.insert(0, _RegisterWhenMtebLoads())
