"""Keep a loaded checkpoint's revision through ``mteb.get_model``.

``ModelMeta.load_model`` calls our loader, then replaces the model's ``mteb_model_meta``
with the registered metadata. Ours is registered without a revision, because a recipe
checkpoint's fingerprint depends on the training data found at load time; without this,
results of ``mteb.evaluate(mteb.get_model("hyperret/..."))`` would name no checkpoint.
"""

from __future__ import annotations

from typing import Any

from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper


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


class CheckpointEncoderWrapper(KeepsCheckpointRevision, SentenceTransformerEncoderWrapper):
    """mteb's sentence-transformers wrapper, keeping the revision it was loaded with."""
