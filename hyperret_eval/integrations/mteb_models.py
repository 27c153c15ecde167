"""Our models in mteb's model registry, so ``mteb.get_model("hyperret/...")`` loads them.

One ModelMeta per named recipe that declares itself listed (``in_mteb`` in
:data:`~hyperret_eval.catalogue.recipes.NAMED_RECIPES`); ``import hyperret_eval`` has
:func:`register` called when mteb is imported. Each loader resolves the model through the
catalogue (the checkpoint the recipe trains on the default data root) and returns mteb's
wrapper; it never trains: a missing checkpoint is an error that says how to train it. The
registered metadata carries no revision, as the checkpoint's fingerprint depends on the
training data; the loaded model's metadata has it.
"""

from __future__ import annotations

from typing import Any

from mteb.models import ModelMeta

from hyperret_eval.catalogue.recipes import NAMED_RECIPES, NamedRecipe, model_kind
from hyperret_eval.catalogue.tasks import tasks_reading
from hyperret_eval.integrations.mteb_meta import trained_metadata
from hyperret_eval.models.backbones import backbone_hub_id
PAPERS = {"sentence-transformers": "https://arxiv.org/abs/2310.09720", "hypencoder": "https://arxiv.org/abs/2502.05364"}


def _load_trained(recipe_key: str):
    def loader(model_name: str, revision: str | None = None, device: str | None = None,
               search: dict[str, Any] | None = None, **kwargs: Any):
        """``search``: a Hypencoder's search settings, as the keyword arguments of
        :class:`~hyperret_eval.search.settings.SearchSettings`
        (``mteb.get_model(name, search={"method": "graph"})``). A dict, not the object,
        because mteb names the experiment after the loader's arguments and serialises
        nothing else."""
        from hyperret_eval.catalogue.checkpoints import ensure_checkpoint
        from hyperret_eval.catalogue.models import resolve_model
        from hyperret_eval.core.distributed import resolve_device
        from hyperret_eval.core.paths import resolve_data_root
        from hyperret_eval.integrations.mteb_loader import load_for_mteb
        from hyperret_eval.search.settings import SearchSettings

        resolved = resolve_model(recipe_key, resolve_data_root())
        device = resolve_device(device or "auto")
        ensure_checkpoint(resolved.checkpoint, recipe_key, device, train_missing=False)
        return load_for_mteb(resolved, device, search=None if search is None else SearchSettings.from_dict(search))

    return loader


def _model_meta(key: str, recipe: NamedRecipe) -> ModelMeta:
    config = recipe.config
    kind = model_kind(config)
    sentence_encoder = kind == "sentence-transformers"
    return ModelMeta(
        loader=_load_trained(key),
        name=f"hyperret/{config.name}",
        revision=None,
        release_date=None,
        languages=["eng-Latn"],
        n_parameters=22_713_216 if sentence_encoder else None,  # the MiniLM backbone; HiCL adds no parameters
        memory_usage_mb=87 if sentence_encoder else None,
        max_tokens=config.max_tokens if sentence_encoder else config.max_length,
        embed_dim=384 if sentence_encoder else None,
        license="apache-2.0",
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch", "Sentence Transformers"] if sentence_encoder else ["PyTorch"],
        reference=PAPERS[kind],
        similarity_fn_name="cosine" if sentence_encoder else None,
        use_instructions=False,
        **trained_metadata(tasks_reading(config.data_folders()), backbone_hub_id(config.backbone)),
        citation=recipe.citation,
        model_type=["dense"],
    )


MODEL_METAS = {key: _model_meta(key, recipe) for key, recipe in NAMED_RECIPES.items() if recipe.in_mteb}


def register() -> None:
    """Add our ModelMetas to mteb's registry (idempotent)."""
    from mteb.models.model_implementations import MODEL_REGISTRY

    for meta in MODEL_METAS.values():
        MODEL_REGISTRY[meta.name] = meta
