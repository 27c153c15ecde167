"""Count the texts a model encodes, batch by batch, without changing how it encodes.

mteb hands a whole column to the model's ``encode`` and sentence-transformers batches it
inside; a Hypencoder batches in its own ``encode_queries``/``encode_passages``. Rather
than re-batch any of that, a forward hook on the module that turns a batch into vectors
reports each batch's size: the sentence-transformers pipeline (one sentence embedding per
text, HiCL's segments already aggregated) or a Hypencoder's backbones (one row of hidden
states per query or passage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch

from hyperret_eval.models.hypencoder import Hypencoder


@contextmanager
def counting_encoded_texts(model, on_batch: Callable[[int], None]) -> Iterator[None]:
    """Call ``on_batch(n)`` after each batch of ``n`` texts that ``model`` encodes inside
    the block. ``model`` is what the runner hands mteb: mteb's encoder wrapper or our
    Hypencoder search model, each holding the torch model as ``.model``."""
    handles = [module.register_forward_hook(lambda _module, _inputs, output: on_batch(_batch_size(output)))
               for module in encoding_modules(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def encoding_modules(model) -> list[torch.nn.Module]:
    """The modules whose forward call encodes one batch of texts."""
    inner = getattr(model, "model", model)
    if isinstance(inner, Hypencoder):
        return [backbone for backbone in (inner.query_backbone, inner.passage_backbone) if backbone is not None]
    return [inner] if isinstance(inner, torch.nn.Module) else []


def _batch_size(output) -> int:
    if isinstance(output, Mapping) and "sentence_embedding" in output:  # a dict, or transformers' BatchEncoding
        return len(output["sentence_embedding"])
    hidden = getattr(output, "last_hidden_state", None)
    return 0 if hidden is None else int(hidden.shape[0])
