"""Our models' mteb metadata: what mteb already knows of a model, what a checkpoint we
trained was trained on, and keeping a loaded checkpoint's revision through ``mteb.get_model``.

``ModelMeta.load_model`` calls our loader, then replaces the model's ``mteb_model_meta``
with the registered metadata. Ours is registered without a revision, because a recipe
checkpoint's fingerprint depends on the training data found at load time; without this,
results of ``mteb.evaluate(mteb.get_model("hyperret/..."))`` would name no checkpoint.
"""

from __future__ import annotations

from typing import Any

def described_by_mteb(name: str | None):
    """mteb's own ModelMeta of ``name`` (licence, languages, parameters...), if it has one."""
    import mteb

    if name is None:
        return None
    try:
        return mteb.get_model_meta(name)
    except KeyError:
        return None


def trained_metadata(training_datasets: frozenset[str] | None, adapted_from: str | None) -> dict[str, Any]:
    """ModelMeta fields of a checkpoint one of our recipes trained: the tasks it trained
    on, joined with those of the model it started from (mteb's zero-shot flag counts both),
    and that model. Empty when we don't know what the model was trained on."""
    if training_datasets is None:
        return {}
    backbone = described_by_mteb(adapted_from)
    inherited = set(backbone.training_datasets or ()) if backbone is not None else set()
    return {"training_datasets": set(training_datasets) | inherited, "adapted_from": adapted_from}


def inherited_metadata(adapted_from: str | None) -> dict[str, Any]:
    """What a checkpoint our recipes trained from ``adapted_from`` keeps of it, as mteb
    describes it: its licence and languages; and its weights are open, as ours are (the
    recipe, data and code that make them are public)."""
    backbone = described_by_mteb(adapted_from)
    kept = {"open_weights": True}
    if backbone is not None:
        kept.update({key: getattr(backbone, key) for key in ("license", "languages") if getattr(backbone, key)})
    return kept


class KeepsCheckpointRevision:
    """``mteb_model_meta`` as a property: metadata set without a revision keeps the one
    the model was loaded with."""

    _mteb_meta: Any = None

    @property
    def mteb_model_meta(self) -> Any:
        return self._mteb_meta

    @mteb_model_meta.setter
    def mteb_model_meta(self, meta: Any) -> None:
        known = self._mteb_meta.revision if self._mteb_meta is not None else None
        if meta is not None and meta.revision is None and known is not None:
            meta = meta.model_copy(update={"revision": known})
        self._mteb_meta = meta
