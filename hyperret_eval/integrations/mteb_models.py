"""Our models for mteb: every named recipe in mteb's model registry, so
``mteb.get_model("hyperret/hicl-minilm-l6")`` (and ``mteb run -m`` through
``hyperret-mteb``) loads it, and :func:`load_model` for anything else we can load.

``mteb.get_model`` given a folder or file (mteb has no hook for paths) raises an error
saying where such a model loads instead. Importing this module calls :func:`register`;
``import hyperret_eval`` imports it when mteb is imported. A registered loader finds the checkpoint its recipe trains on the data root of ``$HYPERRET_DATA``; it
never trains: a missing checkpoint is an error that says how to train it. The registered
metadata carries no revision, as the checkpoint's fingerprint depends on the training
data; the loaded model's metadata has it. mteb names an experiment after every keyword
argument a loader is given, so the registered loaders take none but ``search``;
:func:`load_model` takes the data root, a recipe file or a checkpoint folder.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from mteb.models import ModelMeta

from hyperret_eval.catalogue.recipes import NAMED_RECIPES, NamedRecipe, citation_of, model_kind, paper_of
from hyperret_eval.catalogue.tasks import tasks_reading
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.library_internals import add_to_mteb_registry, in_mteb_registry, wrap_mteb_get_model
from hyperret_eval.integrations.mteb_meta import trained_metadata
from hyperret_eval.models.backbones import backbone_hub_id

PYTHON_DATA_ROOT = ("(The data root: `data_root=` of hyperret_eval.load_model, else $HYPERRET_DATA, "
                    "else ~/.cache/hyperret-eval/data.)")


def load_model(name: str, *, device: str | None = None, data_root: str | None = None,
               search: dict[str, Any] | None = None, train_missing: bool = False):
    """Any model ``hyperret-eval run --models`` accepts, ready for ``mteb.evaluate``: a
    named recipe (``"be"``), a recipe file, a checkpoint folder (named after the recipe
    it was trained with), a sentence-transformers folder or a hub id. A recipe's
    checkpoint is the one trained on ``data_root``; with ``train_missing`` a missing one is
    trained first, else that is an error saying how to train it. ``search``: a
    Hypencoder's search settings, as the keyword arguments of
    :class:`~hyperret_eval.search.settings.SearchSettings`."""
    from hyperret_eval.catalogue.checkpoints import ensure_checkpoint, train_command
    from hyperret_eval.catalogue.models import resolve_model
    from hyperret_eval.core.distributed import resolve_device
    from hyperret_eval.core.paths import resolve_data_root
    from hyperret_eval.integrations.mteb_loader import load_for_mteb
    from hyperret_eval.search.settings import SearchSettings

    try:
        resolved = resolve_model(name, resolve_data_root(data_root))
    except UserError as exc:
        raise UserError(f"{exc} {PYTHON_DATA_ROOT}") from None
    device = resolve_device(device or "auto")
    checkpoint = resolved.checkpoint
    if checkpoint is not None and not (train_missing or checkpoint.is_complete()):
        done = checkpoint.steps_done()
        partial = f", which holds {done} of {checkpoint.config.max_steps} steps" if done else ""
        raise UserError(f"{name!r} has no complete trained checkpoint on the data root {checkpoint.data_root} "
                        f"(looked for {checkpoint.path}{partial}). Train it with "
                        f"hyperret_eval.load_model({name!r}, train_missing=True) or `{train_command(name, checkpoint)}`. "
                        f"{PYTHON_DATA_ROOT}")
    if checkpoint is not None:
        ensure_checkpoint(checkpoint, name, device)
    return load_for_mteb(resolved, device, search=None if search is None else SearchSettings.from_dict(search))


def _load_trained(recipe_key: str):
    def loader(model_name: str, revision: str | None = None, device: str | None = None,
               search: dict[str, Any] | None = None, **kwargs: Any):
        """``search`` as :func:`load_model` takes it (``mteb.get_model(name,
        search={"method": "graph"})``): a dict, not the object, because mteb names the
        experiment after the loader's arguments and serialises nothing else."""
        if kwargs:
            raise UserError(f"mteb.get_model({model_name!r}) takes no {', '.join(sorted(kwargs))}: set $HYPERRET_DATA "
                            f"for the data root, or use hyperret_eval.load_model({recipe_key!r}, data_root=...), "
                            "which also loads recipe files and checkpoint folders")
        return load_model(recipe_key, device=device, search=search)

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
        max_tokens=getattr(config, "max_tokens", None) or config.max_length,  # HiCL's setting, or Hypencoder/BE's
        embed_dim=384 if sentence_encoder else None,
        license="apache-2.0",
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch", "Sentence Transformers"] if sentence_encoder else ["PyTorch"],
        reference=paper_of(config),
        similarity_fn_name="cosine" if sentence_encoder else None,
        use_instructions=False,
        **trained_metadata(tasks_reading(config.data_folders()), backbone_hub_id(config.backbone)),
        citation=citation_of(config),
        model_type=["dense"],
    )


def _model_metas() -> dict[str, ModelMeta]:
    """One ModelMeta per recipe name (``hypencoder`` and ``hypencoder-2layer`` are one
    recipe: the first key loads it)."""
    metas: dict[str, ModelMeta] = {}
    for key, recipe in NAMED_RECIPES.items():
        if not any(meta.name == f"hyperret/{recipe.config.name}" for meta in metas.values()):
            metas[key] = _model_meta(key, recipe)
    return metas


MODEL_METAS = _model_metas()


class NotAnMtebModelName(UserError, NotImplementedError):
    """``mteb.get_model`` given a folder or a file: mteb would end in its own
    NotImplementedError ("No model implementation is available for this model")."""


def _naming_where_paths_load(get_model):
    """``mteb.get_model``, saying where to go for a path that mteb cannot load (it loads
    registry names and hub ids, and has no hook for paths); any other name goes to mteb."""
    @functools.wraps(get_model)
    def get_model_or_say_where(model_name, *args, **kwargs):
        if isinstance(model_name, str) and not in_mteb_registry(model_name) and Path(model_name).expanduser().exists():
            raise NotAnMtebModelName(
                f"mteb.get_model({model_name!r}): mteb loads models by registry name or hub id and has no hook "
                f"through which a package could load a folder or a file. Load it with "
                f"hyperret_eval.load_model({model_name!r}) (ready for mteb.evaluate), or run it with "
                f"`hyperret-mteb run -m {model_name}` or `hyperret-eval run --models {model_name}`.")
        return get_model(model_name, *args, **kwargs)

    return get_model_or_say_where


def register() -> None:
    """Add our ModelMetas to mteb's registry, and have ``mteb.get_model`` answer a path
    with where to load it (idempotent)."""
    add_to_mteb_registry(MODEL_METAS.values())
    wrap_mteb_get_model(_naming_where_paths_load)


def register_loaded(key: str, model) -> None:
    """Put an already loaded model in mteb's registry under ``key`` (the path a user
    typed), so that ``mteb.get_model(key)`` returns it with its own metadata."""

    def loader(model_name: str, revision: str | None = None, **kwargs: Any):
        return model

    add_to_mteb_registry([model.mteb_model_meta.model_copy(update={"loader": loader})], under=key)


register()
