"""Hypencoder: hypernetworks for retrieval (Killingback, Zeng, Zamani 2025)."""

from hyperret_eval.models.hypencoder.modeling import Hypencoder
from hyperret_eval.models.hypencoder.qnet import QNets, QNetShape

__all__ = ["Hypencoder", "QNets", "QNetShape"]
