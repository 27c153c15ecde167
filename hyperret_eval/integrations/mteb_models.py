"""Our models in mteb's model registry, so ``mteb.get_model("hyperret/...")`` loads them.

``import hyperret_eval`` calls :func:`register`. Each loader resolves the model through our
own registry (the checkpoint the recipe trains on the default data root) and returns mteb's
wrapper; it never trains: a missing checkpoint is an error that says how to train it. The
registered metadata carries no revision, as the checkpoint's fingerprint depends on the
training data; the loaded model's metadata has it.
"""

from __future__ import annotations

from typing import Any

from mteb.models import ModelMeta

from hyperret_eval.models.hicl.config import RECIPES

HICL_CITATION = """@inproceedings{wu-etal-2023-hicl,
  title = {HiCL: Hierarchical Contrastive Learning of Unsupervised Sentence Embeddings},
  author = {Wu, Zhuofeng and Xiao, Chaowei and Vydiswaran, V.G.Vinod},
  booktitle = {Findings of the Association for Computational Linguistics: EMNLP 2023},
  year = {2023},
}"""


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
        from hyperret_eval.search.settings import SearchSettings

        resolved = resolve_model(recipe_key, resolve_data_root())
        device = resolve_device(device or "auto")
        ensure_checkpoint(resolved.checkpoint, recipe_key, device, train_missing=False)
        return resolved.load(device, search=None if search is None else SearchSettings.from_dict(search))

    return loader


def _sentence_encoder_meta(recipe_key: str, description: str) -> ModelMeta:
    config = RECIPES[recipe_key]
    return ModelMeta(
        loader=_load_trained(recipe_key),
        name=f"hyperret/{config.name}",
        revision=None,
        release_date=None,
        languages=["eng-Latn"],
        n_parameters=22_713_216,  # the all-MiniLM-L6-v2 backbone; HiCL adds no parameters
        memory_usage_mb=87,
        max_tokens=config.max_tokens,
        embed_dim=384,
        license="apache-2.0",
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch", "Sentence Transformers"],
        reference="https://arxiv.org/abs/2310.09720",
        similarity_fn_name="cosine",
        use_instructions=False,
        training_datasets=set(),
        adapted_from="sentence-transformers/all-MiniLM-L6-v2",
        citation=HICL_CITATION if recipe_key == "hicl" else None,
        model_type=["dense"],
    )


def _hypencoder_meta() -> ModelMeta:
    from hyperret_eval.catalogue.recipes import retrieval_recipes

    config = retrieval_recipes()["hypencoder"]
    return ModelMeta(
        loader=_load_trained("hypencoder"),
        name=f"hyperret/{config.name}",
        revision=None,
        release_date=None,
        languages=["eng-Latn"],
        n_parameters=None,
        memory_usage_mb=None,
        max_tokens=256,
        embed_dim=None,
        license="apache-2.0",
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch"],
        reference="https://arxiv.org/abs/2502.05364",
        similarity_fn_name=None,
        use_instructions=False,
        training_datasets={"SciFact"},
        adapted_from="sentence-transformers/all-MiniLM-L6-v2",
        model_type=["dense"],
    )


MODEL_METAS = {
    "hicl": _sentence_encoder_meta("hicl", "HiCL"),
    "simcse": _sentence_encoder_meta("simcse", "unsupervised SimCSE"),
    "hypencoder": _hypencoder_meta(),
}


def register() -> None:
    """Add our ModelMetas to mteb's registry (idempotent)."""
    from mteb.models.model_implementations import MODEL_REGISTRY

    for meta in MODEL_METAS.values():
        MODEL_REGISTRY[meta.name] = meta
