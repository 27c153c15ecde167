"""Search engines over passage vectors with Hypencoder q-nets."""

from hyperret_eval.search.exhaustive import ExhaustiveSearch

__all__ = ["ExhaustiveSearch"]
