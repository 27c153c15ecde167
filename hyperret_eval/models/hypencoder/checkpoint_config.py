"""A Hypencoder checkpoint's ``config.json``, checked in one place before anything is built.

Every value the loader uses is type- and range-checked here, so a wrong one is one
message naming the file and the key, never a TypeError deep in torch or a list of every
transformers model type. Sizes are only checked for being positive integers; whether they
fit the weights is checked against the weight file (see ``checkpoint.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.models.hypencoder.config import PASSAGE_POOLINGS
from hyperret_eval.models.hypencoder.qnet import ACTIVATIONS, QNetShape

MAX_QNET_LAYERS = 64  # the paper uses up to 8 hidden layers
RELEASED_POOLINGS = {"cls": "cls", "mean": "mean-unmasked-sum"}  # pooling_type -> our passage pooling


class CheckpointError(UserError):
    """A checkpoint that is missing, malformed, or does not match its config."""


@dataclass(frozen=True)
class CheckpointConfig:
    """What the loader needs from ``config.json``, every value checked."""

    shape: QNetShape
    passage_pooling: str
    shared_encoder: bool
    query_backbone_name: str | None  # a backbone to read the config of, when it is not stored
    passage_backbone_name: str | None
    query_backbone_config: dict[str, Any] | None  # our format stores the backbone configs
    passage_backbone_config: dict[str, Any] | None
    max_length: int | None


def read_checkpoint_config(config_file: Path) -> CheckpointConfig:
    config = _Checked(config_file, read_json(config_file, "Hypencoder config", CheckpointError))
    top = config.mapping(config.value, "(top level)", required=True)
    query = config.mapping(top.get("query_encoder_kwargs"), "query_encoder_kwargs", required=True)
    passage = config.mapping(top.get("passage_encoder_kwargs"), "passage_encoder_kwargs")
    converter = config.mapping(query.get("converter_kwargs"), "query_encoder_kwargs.converter_kwargs", required=True)
    ours = config.mapping(top.get("hyperret"), "hyperret")

    key = "query_encoder_kwargs.converter_kwargs."
    dims = converter.get("vector_dimensions")
    if not (isinstance(dims, list) and 2 <= len(dims) <= MAX_QNET_LAYERS + 2 and all(config.is_size(d) for d in dims)
            and dims[-1] == 1):
        config.fail(f"{key}vector_dimensions", dims, f"a list of 2 to {MAX_QNET_LAYERS + 2} positive integers "
                                                      "ending in 1")
    flags = {name: config.boolean(converter, key + name, default)
             for name, default in (("do_layer_norm", True), ("do_residual", True),
                                   ("layer_norm_before_residual", True), ("do_residual_on_last", False))}
    shape = QNetShape(vector_dimensions=tuple(dims),
                      activation=config.choice(converter, key + "activation_type", tuple(ACTIVATIONS), "relu"),
                      **flags)

    pooling_type = config.choice(passage, "passage_encoder_kwargs.pooling_type", tuple(RELEASED_POOLINGS), "cls")
    max_length = ours.get("max_length")
    if max_length is not None and not config.is_size(max_length):
        config.fail("hyperret.max_length", max_length, "a positive integer")
    return CheckpointConfig(
        shape=shape,
        passage_pooling=config.choice(ours, "hyperret.passage_pooling", PASSAGE_POOLINGS,
                                      RELEASED_POOLINGS[pooling_type]),
        shared_encoder=config.boolean(top, "shared_encoder", False),
        query_backbone_name=config.optional_string(query, "query_encoder_kwargs.model_name_or_path"),
        passage_backbone_name=config.optional_string(passage, "passage_encoder_kwargs.model_name_or_path"),
        query_backbone_config=config.backbone(ours, "query_backbone_config"),
        passage_backbone_config=config.backbone(ours, "passage_backbone_config"),
        max_length=max_length,
    )


class _Checked:
    """Typed access to a parsed config; each failure names the file and the key."""

    def __init__(self, path: Path, value: Any) -> None:
        self.path, self.value = path, value

    def fail(self, key: str, value: Any, expected: str):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise CheckpointError(f"{self.path}: {key} is {shown}; expected {expected}")

    @staticmethod
    def is_size(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    def mapping(self, value: Any, key: str, required: bool = False) -> dict[str, Any]:
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.fail(key, value, "an object (not a Hypencoder config?)")
        return value

    def boolean(self, section: dict[str, Any], key: str, default: bool) -> bool:
        value = section.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            self.fail(key, value, "true or false")
        return value

    def choice(self, section: dict[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
        value = section.get(key.rsplit(".", 1)[-1])
        if value is None:
            return default
        if not isinstance(value, str) or value not in choices:
            self.fail(key, value, f"one of {', '.join(choices)}")
        return value

    def optional_string(self, section: dict[str, Any], key: str) -> str | None:
        value = section.get(key.rsplit(".", 1)[-1])
        if value is not None and not isinstance(value, str):
            self.fail(key, value, "a string")
        return value or None

    def backbone(self, ours: dict[str, Any], name: str) -> dict[str, Any] | None:
        """A stored transformers config: an object whose model_type transformers knows."""
        from transformers import CONFIG_MAPPING

        value = ours.get(name)
        if value is None:
            return None
        key = f"hyperret.{name}"
        self.mapping(value, key)
        if not isinstance(value.get("model_type"), str) or value["model_type"] not in CONFIG_MAPPING:
            self.fail(f"{key}.model_type", value.get("model_type"), "a model type this transformers version knows")
        return value
