"""Every trainable model name, declared once: the recipe behind it and one line saying what
it is. Each is listed in mteb's model registry as ``hyperret/<recipe name>``. The CLI's
names and help, ``list models``,
model resolution and the mteb registration (:mod:`hyperret_eval.integrations.mteb_models`)
are all read off :data:`NAMED_RECIPES`.

A recipe is a frozen config; with the training data it reads it names a checkpoint in the
cache (:mod:`hyperret_eval.catalogue.checkpoints`). Recipe files, which start from a named
recipe, are read by :mod:`hyperret_eval.catalogue.recipe_files`. Nothing here imports
torch or mteb: the training loops are imported when one runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hyperret_eval.models.hicl.config import HICL_PAPER, SIMCSE_PAPER, TrainConfig, is_simcse
from hyperret_eval.models.hypencoder.config import HYPENCODER_PAPER, RetrievalTrainConfig
from hyperret_eval.models.recipe import Recipe

if TYPE_CHECKING:
    from hyperret_eval.models.training import TrainResult

HICL_CITATION = """@inproceedings{wu-etal-2023-hicl,
  title = {HiCL: Hierarchical Contrastive Learning of Unsupervised Sentence Embeddings},
  author = {Wu, Zhuofeng and Xiao, Chaowei and Vydiswaran, V.G.Vinod},
  booktitle = {Findings of the Association for Computational Linguistics: EMNLP 2023},
  year = {2023},
}"""

SIMCSE_CITATION = """@inproceedings{gao-etal-2021-simcse,
  title = {SimCSE: Simple Contrastive Learning of Sentence Embeddings},
  author = {Gao, Tianyu and Yao, Xingcheng and Chen, Danqi},
  booktitle = {Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing},
  year = {2021},
}"""
HYPENCODER_CITATION = """@inproceedings{killingback2025hypencoder,
  title = {Hypencoder: Hypernetworks for Information Retrieval},
  author = {Killingback, Julian and Zeng, Hansi and Zamani, Hamed},
  booktitle = {Proceedings of the 48th International ACM SIGIR Conference on Research and Development in Information Retrieval},
  year = {2025},
}"""

@dataclass(frozen=True)
class NamedRecipe:
    """A name ``--models`` and ``train`` accept, and the recipe it stands for."""

    config: Recipe
    summary: str  # one line for `list models`


def _declare() -> dict[str, NamedRecipe]:
    hypencoder = RetrievalTrainConfig()
    recipes = {
        "hicl": NamedRecipe(TrainConfig(), "HiCL on all-MiniLM-L6-v2 (hyperret/hicl-minilm-l6), trained on demand"),
        "simcse": NamedRecipe(TrainConfig(name="simcse-minilm-l6", segment_length=128, max_tokens=128, alpha=0.0),
                              "unsupervised SimCSE on all-MiniLM-L6-v2 (hyperret/simcse-minilm-l6), the HiCL baseline"),
        "hypencoder": NamedRecipe(hypencoder, "Hypencoder on all-MiniLM-L6-v2, 2-layer q-net "
                                              "(hyperret/hypencoder-minilm-l6), trained on demand"),
    }
    for layers in (2, 4, 6, 8):
        # The default is the 2-layer q-net: both names train and load the same checkpoint.
        config = hypencoder if layers == hypencoder.qnet_layers else RetrievalTrainConfig(
            name=f"hypencoder-{layers}layer-minilm-l6", qnet_layers=layers)
        recipes[f"hypencoder-{layers}layer"] = NamedRecipe(config, f"Hypencoder, {layers}-layer q-net")
    recipes["be"] = NamedRecipe(RetrievalTrainConfig(name="be-minilm-l6", model="be"),
                                "bi-encoder baseline: all-MiniLM-L6-v2 fine-tuned by the Hypencoder loop "
                                "(hyperret/be-minilm-l6)")
    return recipes


NAMED_RECIPES: dict[str, NamedRecipe] = _declare()

CITATIONS = {HICL_PAPER: HICL_CITATION, SIMCSE_PAPER: SIMCSE_CITATION, HYPENCODER_PAPER: HYPENCODER_CITATION}


def citation_of(config: Recipe) -> str:
    """The BibTeX entry of :func:`paper_of`, as mteb's ModelMeta cites a model's paper."""
    return CITATIONS[paper_of(config)]


def paper_of(config: Recipe) -> str:
    """The paper that describes what ``config`` trains: SimCSE for a HiCL recipe without
    its local loss over one segment per text (that is unsupervised SimCSE), HiCL's for
    the rest; the Hypencoder paper for a Hypencoder and for the bi-encoder baseline its
    experiments train the same way (BE)."""
    if isinstance(config, RetrievalTrainConfig):
        return HYPENCODER_PAPER
    return SIMCSE_PAPER if is_simcse(config.alpha, config.segment_length, config.max_tokens) else HICL_PAPER


def model_kind(config: Recipe) -> str:
    """How the checkpoint a recipe trains is loaded: ``hypencoder`` or ``sentence-transformers``."""
    is_hypencoder = isinstance(config, RetrievalTrainConfig) and config.model == "hypencoder"
    return "hypencoder" if is_hypencoder else "sentence-transformers"


# Settings that change how a training run goes, not the weights it ends with (a resumed
# run reaches the very weights of an uninterrupted one).
RUN_ONLY_SETTINGS = frozenset({"save_every"})


def checkpoint_model_name(config: Recipe) -> str:
    """The name a checkpoint of ``config`` goes by in results and on the leaderboard:
    ``hyperret/<recipe name>``, and where the settings differ from the named recipe of that
    name, those settings after it as mteb names a variant of a model:
    ``hyperret/hicl-minilm-l6 (max_steps=5)``. A checkpoint trained otherwise is never
    taken for the recipe's own."""
    name = f"hyperret/{config.name}"
    named = next((recipe.config for recipe in NAMED_RECIPES.values() if recipe.config.name == config.name), None)
    if named is None or type(named) is not type(config):
        return name
    ours, theirs = config.to_dict(), named.to_dict()
    changed = [f"{key}={_setting_label(ours[key])}" for key in ours
               if key not in RUN_ONLY_SETTINGS and ours[key] != theirs.get(key)]
    return f"{name} ({', '.join(changed)})" if changed else name


def _setting_label(value) -> str:
    """A setting as a name shows it: a file by its name (not the folders above it)."""
    if isinstance(value, (list, tuple)):
        return "+".join(_setting_label(item) for item in value)
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return Path(value).name
    return str(value)


def in_mteb(config: Recipe) -> bool:
    """Whether mteb's registry describes the checkpoint of this recipe: a named recipe's own
    (a recipe file that starts from ``hicl`` and changes no setting but how often it saves).
    A recipe that keeps the name but changes a setting (another backbone, more steps) is a
    variant, described by its own weights, never by the registered metadata."""
    return checkpoint_model_name(config) in {f"hyperret/{recipe.config.name}" for recipe in NAMED_RECIPES.values()}


def supports_data_parallel(config: Recipe) -> bool:
    """Whether the recipe's training runs under torchrun with DistributedDataParallel."""
    return isinstance(config, RetrievalTrainConfig)


def train_recipe(config: Recipe, output: Path, data_root: Path | None, device: str,
                 on_step: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume) any recipe into ``output`` with its model's training step."""
    if isinstance(config, RetrievalTrainConfig):
        from hyperret_eval.models.hypencoder.train import train_retrieval

        return train_retrieval(config, output, data_root, device=device, on_step=on_step)
    from hyperret_eval.models.hicl.train import train

    return train(config, output, data_root, device=device, on_step=on_step)
