"""Loading Hypencoder checkpoints in the released models' format, offline and safely.

The format (``config.json`` + ``pytorch_model.bin`` or ``model.safetensors`` + tokenizer)
is described in docs/models.md ("The Hypencoder checkpoint format"). Weights are read with
``torch.load(weights_only=True)`` or safetensors, the folder is checked first and
``trust_remote_code`` is never on (:mod:`~hyperret_eval.models.folder_safety`): no code
from a checkpoint ever runs.
The backbone's config is not in the checkpoint: it is read from the hub cache's copy of the
named backbone when there is one (a name that is not a hub id must lie inside the folder),
read with the bounds of :mod:`hyperret_eval.core.jsonfile` and handed to transformers as a
config object, else derived from the weights' shapes (BERT layout).

Our own format is the same layout with ``model.safetensors`` and a ``hyperret`` section in
``config.json`` holding the backbone config and the passage pooling, so it loads with no
lookup; a shared backbone is stored once, under the query prefix.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import torch
from torch import nn

from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.core.paths import inside
from hyperret_eval.models.folder_safety import check_model_folder, check_vocabulary
from hyperret_eval.models.hypencoder.checkpoint_config import CheckpointError, read_checkpoint_config
from hyperret_eval.models.hypencoder.hypernetwork import QNetHypernetwork
from hyperret_eval.models.hypencoder.qnet import QNetShape
from hyperret_eval.models.weights import unreadable

QUERY_PREFIX = "query_encoder.transformer."
PASSAGE_PREFIX = "passage_encoder.transformer."
HYPER_PREFIX = "query_encoder."


def _read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    safetensors_file, bin_file = folder / "model.safetensors", folder / "pytorch_model.bin"
    if safetensors_file.is_file():
        from safetensors.torch import load_file

        with unreadable(safetensors_file, "weights", CheckpointError):
            return load_file(str(safetensors_file), device="cpu")
    if bin_file.is_file():
        with unreadable(bin_file, "weights", CheckpointError):
            return torch.load(bin_file, map_location="cpu", weights_only=True)
    raise CheckpointError(f"{folder} holds neither model.safetensors nor pytorch_model.bin")


def derive_bert_config(state: dict[str, torch.Tensor], prefix: str, num_heads: int | None = None):
    """A BertConfig from the shapes of a BERT state dict (heads: hidden / 64 by default)."""
    from transformers import BertConfig

    def shape(key: str) -> tuple[int, ...]:
        if prefix + key not in state:
            raise CheckpointError(f"checkpoint lacks {prefix + key}, needed to rebuild the backbone")
        return tuple(state[prefix + key].shape)

    vocab, hidden = shape("embeddings.word_embeddings.weight")
    layers = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"encoder\.layer\.(\d+)\.", k))}
    if not layers:
        raise CheckpointError(f"checkpoint has no {prefix}encoder.layer.* weights")
    heads = num_heads or max(1, hidden // 64)
    if hidden % heads:
        raise CheckpointError(f"hidden size {hidden} is not divisible by {heads} attention heads")
    return BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=max(layers) + 1,
        num_attention_heads=heads,
        intermediate_size=shape("encoder.layer.0.intermediate.dense.weight")[0],
        max_position_embeddings=shape("embeddings.position_embeddings.weight")[0],
        type_vocab_size=shape("embeddings.token_type_embeddings.weight")[0],
    )


def _backbone_config(name: str | None, state: dict[str, torch.Tensor], prefix: str, stored: dict | None,
                     origin: Path):
    from transformers import AutoConfig

    where = origin / "config.json"
    if not stored and name:
        named = _named_backbone_config_file(name, origin)
        if named is not None:
            stored, where = read_json(named, "backbone config", CheckpointError), named
    if stored:
        if not isinstance(stored, dict) or not isinstance(stored.get("model_type"), str):
            raise CheckpointError(f"{where}: the backbone config is not an object naming its model_type")
        try:
            return AutoConfig.for_model(**stored)
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{where}: the backbone config is not valid ({exc})") from None
    return derive_bert_config(state, prefix)


def _named_backbone_config_file(name: str, origin: Path) -> Path | None:
    """The ``config.json`` of the backbone a released checkpoint names: a hub id's copy in
    the hub cache, or a folder inside the checkpoint; None when there is none (the config is
    then derived from the weights). A name leading outside the checkpoint is refused."""
    from huggingface_hub import constants, try_to_load_from_cache

    from hyperret_eval.models.hub import looks_like_hub_id

    if looks_like_hub_id(name) or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):  # org/name, or a legacy name
        try:
            cached = try_to_load_from_cache(name, "config.json",
                                            cache_dir=os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)
        except ValueError:  # not a valid hub id after all
            cached = None
        return Path(cached) if isinstance(cached, str) else None
    folder = inside(origin, name, f"{origin / 'config.json'}: the backbone {name!r}")
    return folder / "config.json" if (folder / "config.json").is_file() else None


def _weights_under(state: dict[str, torch.Tensor], prefix: str, exclude: str | None = None) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix) and not (exclude and k.startswith(exclude))}


def _meta_shapes(build: Callable[[], nn.Module], what: str, origin: Path) -> dict[str, tuple[int, ...]]:
    """The parameter shapes of the module ``build()`` makes from a config, built on the
    meta device (no memory). Checking them against the weights before the real build means
    a config can never make us allocate more than its weight file holds."""
    with torch.device("meta"):
        try:
            module = build()
        except (TypeError, ValueError, RuntimeError) as exc:  # sizes transformers or torch refuse
            raise CheckpointError(f"{origin}: the config of the {what} cannot be built ({exc})") from None
    return {k: tuple(v.shape) for k, v in module.state_dict().items() if "position_ids" not in k}


def _load_backbone(config, weights: dict[str, torch.Tensor], prefix: str, origin: Path):
    from transformers import AutoModel

    has_pooler = any(k.startswith("pooler.") for k in weights)
    # A layer count larger than the tensors the weights hold cannot fit them: refuse before
    # even the meta build, which makes one Python object per layer.
    layers = {key: value for key, value in config.to_dict().items()
              if "layers" in key and isinstance(value, int) and value > len(weights)}
    if layers:
        raise CheckpointError(f"{origin}: the backbone config under {prefix!r} asks for {layers}, more layers than "
                              f"its {len(weights)} weight tensors can hold")
    expected = _meta_shapes(lambda: AutoModel.from_config(config, add_pooling_layer=has_pooler),
                            f"backbone under {prefix!r}", origin)
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(k for k in set(weights) - set(expected) if "position_ids" not in k)
    if missing or unexpected:
        raise CheckpointError(f"{origin}: backbone weights under {prefix!r} do not match the architecture "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    wrong = [f"{k} is {tuple(weights[k].shape)}, the config needs {shape}"
             for k, shape in expected.items() if tuple(weights[k].shape) != shape]
    if wrong:
        raise CheckpointError(f"{origin}: backbone weights under {prefix!r} do not fit its config: {'; '.join(wrong[:3])}")
    model = AutoModel.from_config(config, add_pooling_layer=has_pooler)
    model.load_state_dict(weights, strict=False)
    return model


@dataclass
class CheckpointParts:
    """What a checkpoint holds, checked and loaded: ``Hypencoder.from_pretrained``
    assembles the model from it."""

    query_backbone: nn.Module
    passage_backbone: nn.Module | None
    tokenizer: Any
    shape: QNetShape
    passage_pooling: str
    max_length: int
    hypernetwork_state: dict[str, torch.Tensor]


def load_checkpoint(folder: Path) -> CheckpointParts:
    """The parts of the model in ``folder``: config checked, then every module checked
    against the weights' shapes on the meta device, then built and filled."""
    from transformers import AutoTokenizer

    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{folder} is not a Hypencoder checkpoint: it has no config.json")
    check_model_folder(folder)
    config = read_checkpoint_config(config_file)

    state = _read_state_dict(folder)
    query_config = _backbone_config(config.query_backbone_name, state, QUERY_PREFIX, config.query_backbone_config,
                                    folder)
    query_backbone = _load_backbone(query_config, _weights_under(state, QUERY_PREFIX), QUERY_PREFIX, folder)
    passage_backbone = None
    if not config.shared_encoder:
        passage_config = _backbone_config(config.passage_backbone_name, state, PASSAGE_PREFIX,
                                          config.passage_backbone_config, folder)
        passage_backbone = _load_backbone(passage_config, _weights_under(state, PASSAGE_PREFIX), PASSAGE_PREFIX, folder)

    hyper = _weights_under(state, HYPER_PREFIX, exclude=QUERY_PREFIX)
    hidden = query_backbone.config.hidden_size
    expected = _meta_shapes(lambda: QNetHypernetwork(hidden, config.shape), "q-net generator", config_file)
    missing = sorted(set(expected) - set(hyper))
    if missing:
        raise CheckpointError(f"{folder}: checkpoint lacks q-net generator weights {missing[:5]}")
    for key, shape in expected.items():
        if tuple(hyper[key].shape) != shape:
            raise CheckpointError(f"{folder}: {HYPER_PREFIX}{key} has shape {tuple(hyper[key].shape)}, but "
                                  f"vector_dimensions {list(config.shape.vector_dimensions)} need {shape}")
    with unreadable(folder / "tokenizer_config.json", "tokenizer", CheckpointError):
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    check_vocabulary(tokenizer, query_backbone, folder)
    return CheckpointParts(query_backbone, passage_backbone, tokenizer, config.shape, config.passage_pooling,
                           config.max_length, {k: hyper[k] for k in expected})


def save_checkpoint(model: nn.Module, folder: Path, extra=None) -> None:
    """Write ``model`` (a ``Hypencoder``) in our format (see the module docstring),
    replacing ``folder`` atomically; ``extra(staging_folder)`` may add files (training
    state) to the same swap."""
    from safetensors.torch import save_file

    from hyperret_eval.core import atomic

    shape = model.shape
    name = getattr(model.query_backbone.config, "_name_or_path", "") or ""
    config = {
        "query_encoder_kwargs": {
            "model_name_or_path": name,
            "base_encoder_output_dim": model.query_backbone.config.hidden_size,
            "converter_kwargs": {
                "vector_dimensions": list(shape.vector_dimensions),
                "activation_type": shape.activation,
                "do_layer_norm": shape.do_layer_norm,
                "do_residual": shape.do_residual,
                "layer_norm_before_residual": shape.layer_norm_before_residual,
                "do_residual_on_last": shape.do_residual_on_last,
            },
        },
        "passage_encoder_kwargs": {
            "model_name_or_path": name,
            "pooling_type": "cls" if model.passage_pooling == "cls" else "mean",
        },
        "shared_encoder": model.passage_backbone is None,
        "hyperret": {
            "format": 1,
            "passage_pooling": model.passage_pooling,
            "max_length": model.max_length,
            "query_backbone_config": model.query_backbone.config.to_dict(),
            "passage_backbone_config": None if model.passage_backbone is None else model.passage_backbone.config.to_dict(),
        },
    }
    tensors = {QUERY_PREFIX + k: v for k, v in model.query_backbone.state_dict().items()}
    tensors.update({HYPER_PREFIX + k: v for k, v in model.hypernetwork.state_dict().items()})
    if model.passage_backbone is not None:
        tensors.update({PASSAGE_PREFIX + k: v for k, v in model.passage_backbone.state_dict().items()})

    def fill(staging: Path) -> None:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(staging / "model.safetensors"))
        (staging / "config.json").write_text(json.dumps(config, indent=2, default=str), encoding="utf-8")
        model.tokenizer.save_pretrained(str(staging))
        if extra is not None:
            extra(staging)

    atomic.write_directory(folder, fill)
