"""Every trainable model name and the training recipe behind it.

A recipe is a frozen config with a ``fingerprint()`` and a ``default_output()`` in the
checkpoint cache; the registry resolves a name to that checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

from hyperret_eval.errors import UserError
from hyperret_eval.models.hicl.config import RECIPES as SENTENCE_RECIPES
from hyperret_eval.models.hypencoder.train import RetrievalTrainConfig


def retrieval_recipes() -> dict[str, RetrievalTrainConfig]:
    default = RetrievalTrainConfig()
    recipes = {"hypencoder": default}
    for layers in (2, 4, 6, 8):
        # The default is the 2-layer q-net: both names train and load the same checkpoint.
        recipes[f"hypencoder-{layers}layer"] = default if layers == default.qnet_layers else RetrievalTrainConfig(
            name=f"hypencoder-{layers}layer-minilm-l6", qnet_layers=layers)
    recipes["be"] = RetrievalTrainConfig(name="be-minilm-l6", model="be")
    return recipes


def all_recipes() -> dict:
    return {**SENTENCE_RECIPES, **retrieval_recipes()}


def is_hypencoder_recipe(config) -> bool:
    return isinstance(config, RetrievalTrainConfig) and config.model == "hypencoder"


def load_config_file(path: Path, base):
    """``base`` (a recipe) with the settings of a TOML or JSON file applied."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read training config {path}: {exc.strerror}") from None
    try:
        values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({exc})") from None
    known = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"{path}: unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return dataclasses.replace(base, **values)
