"""Search engines over passage vectors with Hypencoder q-nets."""

from hyperret_eval.search.exhaustive import ExhaustiveSearch
from hyperret_eval.search.graph import GraphSearch, NeighbourGraph

__all__ = ["ExhaustiveSearch", "GraphSearch", "NeighbourGraph"]
