"""hyperret-eval: evaluate HiCL, Hypencoder and sentence-transformers baselines on STS and
BEIR-style retrieval through MTEB's evaluators and ir-measures.

Importing the package registers its models with mteb, so that
``mteb.get_model("hyperret/hicl-minilm-l6")`` works.
"""

__version__ = "0.1.0"

from hyperret_eval.integrations.mteb_models import register as _register_mteb_models  # noqa: E402

_register_mteb_models()
