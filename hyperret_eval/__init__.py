"""hyperret-eval: evaluate HiCL, Hypencoder and sentence-transformers baselines on STS and
BEIR-style retrieval through MTEB's evaluators and ir-measures."""

__version__ = "0.1.0"
