"""hyperret-eval: evaluate HiCL, Hypencoder and sentence-transformers baselines on STS and
BEIR-style retrieval through MTEB's evaluators and ir-measures.

Importing the package registers its models with mteb, so that
``mteb.get_model("hyperret/hicl-minilm-l6")`` works.
"""

__version__ = "0.1.0"

from importlib.util import find_spec  # noqa: E402

# Without mteb there is nothing to register with: benchmarks/gpu_check.py runs the search
# and training code on a bare GPU image that has torch and transformers but not mteb.
# An installed mteb that fails to import still fails here, loudly.
if find_spec("mteb") is not None:
    from hyperret_eval.integrations.mteb_models import register as _register_mteb_models

    _register_mteb_models()
