"""Every use of another library's private or undocumented parts, one name each, here only.

Each has no public route in the versions ``pyproject.toml`` admits; a release that moves or
renames one breaks it here, and ``tests/test_library_internals.py`` fails naming which:

- sentence-transformers ``SentenceTransformer._load_with_module_classes``: loads a saved
  model with our own module classes (HiCL's pooling) given as classes, so the name in its
  ``modules.json`` is never imported and no remote code is trusted;
- mteb ``mteb._create_dataloaders.create_dataloader``: the dataloader mteb's own search
  feeds an encoder (title and text joined, the task's prompts), so cached vectors equal
  mteb's;
- mteb ``AbsTaskSTS._calculate_scores``: the one step where mteb holds every pair's
  predicted similarity, kept for the paired test (:class:`STSPairScoresHook`);
- mteb ``mteb.models.model_implementations.MODEL_REGISTRY``: where ``mteb.get_model``
  looks names up; mteb has no call that adds a model to it;
- ``mteb.get_model`` itself, wrapped so that a path gets a message saying where to load
  it, since mteb has no hook for names it cannot load;
- huggingface_hub ``huggingface_hub.utils._http.hf_request_event_hook``: the hook its own
  client runs on every request (offline mode, request ids), which a client of ours that
  holds requests to a deadline (``data/fetch_limits.py``) must run too;
- the ``model`` attribute of mteb's ``SentenceTransformerEncoderWrapper``: the
  sentence-transformers model inside, whose ``encode`` the SentEval protocol calls.

Imports happen inside each function: this module sits on the ground floor and costs
nothing to import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def load_with_module_classes(cls, path: str, module_classes: Mapping[str, type], **kwargs: Any):
    """``cls`` (a SentenceTransformer class) loaded from ``path`` with the ``modules.json``
    types in ``module_classes`` resolved to those classes instead of imported by name."""
    return cls._load_with_module_classes(path, module_classes, **kwargs)


def mteb_dataloader(dataset, **kwargs: Any):
    """mteb's dataloader for ``dataset`` (its keyword arguments: ``task_metadata``,
    ``prompt_type``, ``batch_size``, ``num_proc``...)."""
    from mteb._create_dataloaders import create_dataloader

    return create_dataloader(dataset, **kwargs)


def add_to_mteb_registry(metas: Iterable, under: str | None = None) -> None:
    """Make ``mteb.get_model`` and ``mteb.get_model_meta`` find each ``ModelMeta`` by its
    name, or by ``under`` (a name mteb would not accept as a model's, such as a path)."""
    from mteb.models.model_implementations import MODEL_REGISTRY

    for meta in metas:
        MODEL_REGISTRY[under or meta.name] = meta


def in_mteb_registry(name: str) -> bool:
    """Whether mteb's registry knows a model of that name."""
    from mteb.models.model_implementations import MODEL_REGISTRY

    return name in MODEL_REGISTRY


def wrap_mteb_get_model(wrap) -> None:
    """Replace ``mteb.get_model`` by ``wrap(mteb.get_model)`` (once: a second call keeps the
    first wrapper). mteb has no hook through which a package could answer a name it cannot
    load, such as a path."""
    import mteb

    if not getattr(mteb.get_model, "_hyperret_wrapped", False):
        wrapped = wrap(mteb.get_model)
        wrapped._hyperret_wrapped = True
        mteb.get_model = wrapped


def hub_request_event_hook():
    """The function huggingface_hub's own HTTP client runs before every request."""
    from huggingface_hub.utils._http import hf_request_event_hook

    return hf_request_event_hook


def wrapped_sentence_transformer(encoder):
    """The sentence-transformers model inside mteb's wrapper ``encoder``."""
    model = getattr(encoder, "model", None)
    if model is None:
        raise TypeError(f"{type(encoder).__name__} wraps no sentence-transformers model (no .model)")
    return model


class STSPairScoresHook:
    """Mixin for a subclass of mteb's ``AbsTaskSTS``: ``keep_pair_scores(scores)`` sees
    mteb's per-pair scores (``cosine_scores``, ``similarity_scores``...) just before mteb
    correlates them with the gold scores; the correlations are mteb's, unchanged."""

    def keep_pair_scores(self, scores) -> None:
        raise NotImplementedError

    def _calculate_scores(self, scores, normalized_scores):
        self.keep_pair_scores(scores)
        return super()._calculate_scores(scores, normalized_scores)
