"""Hypencoder: hypernetworks for retrieval (Killingback, Zeng, Zamani 2025).

``Hypencoder``, ``QNets`` and ``QNetShape`` are imported on first use, so that the
training settings (``config``) can be read without loading torch."""

__all__ = ["Hypencoder", "QNets", "QNetShape"]


def __getattr__(name: str):
    if name == "Hypencoder":
        from hyperret_eval.models.hypencoder.modeling import Hypencoder

        return Hypencoder
    if name in ("QNets", "QNetShape"):
        from hyperret_eval.models.hypencoder import qnet

        return getattr(qnet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
