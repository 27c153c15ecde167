"""Content fingerprints of encoders: a sha256 of everything their vectors depend on
(settings, tokenizer, weights), so that a cache of vectors is served only to the same
encoder (``search/passage_cache.py``).

Settings that name where a model came from (``_name_or_path``, the transformers version)
are left out, so the same weights loaded from two places share a fingerprint.
"""

from __future__ import annotations

import hashlib
import json

import torch


def encoder_fingerprint(settings: dict, tokenizer, module: torch.nn.Module) -> str:
    """sha256 of ``settings`` (JSON), the tokenizer's definition and every tensor of
    ``module`` (name, dtype, shape and bytes), in name order."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(tokenizer_description(tokenizer).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(memoryview(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def backbone_settings(config) -> dict:
    """A transformers config as a dict, without the entries that only say where it came from."""
    return {name: value for name, value in config.to_dict().items()
            if not name.startswith("_") and name != "transformers_version"}


def tokenizer_description(tokenizer) -> str:
    """The tokenizer's full definition (vocabulary, normaliser, special tokens), without
    the truncation and padding state that each call to it sets anew."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return json.dumps([type(tokenizer).__name__, sorted(tokenizer.get_vocab().items())])
    definition = json.loads(backend.to_str())
    definition.pop("truncation", None)
    definition.pop("padding", None)
    return json.dumps(definition, sort_keys=True)


def sentence_transformer_settings(model) -> dict:
    """What a sentence-transformers model's vectors depend on besides its tensors and
    tokenizer: each module's class and saved config (max length, pooling mode,
    normalisation...), its backbone's config, and its own prompts."""
    modules = [[type(module).__name__, module.get_config_dict() if hasattr(module, "get_config_dict") else None]
               for module in model]
    backbones = [backbone_settings(module.auto_model.config) for module in model if hasattr(module, "auto_model")]
    return {"modules": modules, "backbones": backbones, "prompts": model.prompts,
            "default_prompt_name": model.default_prompt_name}


def sentence_transformer_fingerprint(model) -> str:
    return encoder_fingerprint(sentence_transformer_settings(model), model.tokenizer, model)
