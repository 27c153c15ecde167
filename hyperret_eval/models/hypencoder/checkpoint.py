"""Loading Hypencoder checkpoints in the released models' format, offline and safely.

The format (``config.json`` + ``pytorch_model.bin`` or ``model.safetensors`` + tokenizer)
is described in ../shared/fixtures/README.md. Weights are read with
``torch.load(weights_only=True)`` or safetensors, the folder is checked first and
``trust_remote_code`` is never on (:mod:`~hyperret_eval.models.folder_safety`): no code
from a checkpoint ever runs.
The backbone's config is not in the checkpoint: it is read from a local copy of the named
backbone when there is one, else derived from the weights' shapes (BERT layout).

Our own format is the same layout with ``model.safetensors`` and a ``hyperret`` section in
``config.json`` holding the backbone config and the passage pooling, so it loads with no
lookup; a shared backbone is stored once, under the query prefix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from hyperret_eval.errors import UserError
from hyperret_eval.models.damaged import unreadable
from hyperret_eval.models.folder_safety import check_model_folder
from hyperret_eval.models.hypencoder.modeling import Hypencoder
from hyperret_eval.models.hypencoder.qnet import QNetShape

QUERY_PREFIX = "query_encoder.transformer."
PASSAGE_PREFIX = "passage_encoder.transformer."
HYPER_PREFIX = "query_encoder."


class CheckpointError(UserError):
    """A checkpoint that is missing, malformed, or does not match its config."""


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


def _backbone_config(name: str | None, state: dict[str, torch.Tensor], prefix: str, stored: dict | None = None):
    from transformers import AutoConfig

    if stored:
        return AutoConfig.for_model(**stored)
    if name:
        try:
            return AutoConfig.from_pretrained(name, local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError):
            pass  # not on this machine: derive it below
    return derive_bert_config(state, prefix)


def _load_backbone(config, state: dict[str, torch.Tensor], prefix: str, origin: Path):
    from transformers import AutoModel

    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    has_pooler = any(k.startswith("pooler.") for k in weights)
    model = AutoModel.from_config(config, add_pooling_layer=has_pooler)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if "position_ids" not in k]
    if missing or unexpected:
        raise CheckpointError(
            f"{origin}: backbone weights under {prefix!r} do not match the architecture "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    return model


def load_checkpoint(folder: Path) -> Hypencoder:
    from transformers import AutoTokenizer

    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{folder} is not a Hypencoder checkpoint: it has no config.json")
    check_model_folder(folder)
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        query_kwargs = config["query_encoder_kwargs"]
        converter = query_kwargs["converter_kwargs"]
        passage_kwargs = config.get("passage_encoder_kwargs", {})
    except (json.JSONDecodeError, KeyError) as exc:
        raise CheckpointError(f"{config_file}: not a Hypencoder config ({exc})") from None
    try:
        shape = QNetShape(
            vector_dimensions=tuple(converter["vector_dimensions"]),
            activation=converter.get("activation_type", "relu"),
            do_layer_norm=converter.get("do_layer_norm", True),
            do_residual=converter.get("do_residual", True),
            layer_norm_before_residual=converter.get("layer_norm_before_residual", True),
            do_residual_on_last=converter.get("do_residual_on_last", False),
        )
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{config_file}: bad converter_kwargs ({exc})") from None
    ours = config.get("hyperret", {})
    pooling = ours.get("passage_pooling") or {"cls": "cls", "mean": "mean-unmasked-sum"}.get(
        passage_kwargs.get("pooling_type", "cls"))
    if pooling is None:
        raise CheckpointError(f"{config_file}: unknown pooling_type {passage_kwargs.get('pooling_type')!r}")

    state = _read_state_dict(folder)
    shared = bool(config.get("shared_encoder", False))
    query_config = _backbone_config(query_kwargs.get("model_name_or_path"), state, QUERY_PREFIX,
                                    ours.get("query_backbone_config"))
    query_backbone = _load_backbone(query_config, state, QUERY_PREFIX, folder)
    passage_backbone = None
    if not shared:
        passage_config = _backbone_config(passage_kwargs.get("model_name_or_path"), state, PASSAGE_PREFIX,
                                          ours.get("passage_backbone_config"))
        passage_backbone = _load_backbone(passage_config, state, PASSAGE_PREFIX, folder)

    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    model = Hypencoder(query_backbone, passage_backbone, tokenizer, shape, passage_pooling=pooling,
                       max_length=ours.get("max_length"))
    hyper = {k[len(HYPER_PREFIX):]: v for k, v in state.items()
             if k.startswith(HYPER_PREFIX) and not k.startswith(QUERY_PREFIX)}
    expected = model.hypernetwork.state_dict()
    missing = sorted(set(expected) - set(hyper))
    if missing:
        raise CheckpointError(f"{folder}: checkpoint lacks q-net generator weights {missing[:5]}")
    for key, tensor in expected.items():
        if tuple(hyper[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{folder}: {HYPER_PREFIX}{key} has shape {tuple(hyper[key].shape)}, but vector_dimensions "
                f"{list(shape.vector_dimensions)} need {tuple(tensor.shape)}"
            )
    model.hypernetwork.load_state_dict({k: hyper[k] for k in expected})
    return model.eval()


def save_checkpoint(model: Hypencoder, folder: Path, extra=None) -> None:
    """Write ``model`` in our format (see the module docstring), replacing ``folder``
    atomically; ``extra(staging_folder)`` may add files (training state) to the same swap."""
    from safetensors.torch import save_file

    from hyperret_eval import atomic

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
