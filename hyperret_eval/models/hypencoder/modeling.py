"""Hypencoder (Killingback, Zeng, Zamani 2025, arXiv 2502.05364): a query becomes a
q-net, a passage becomes a vector, relevance is the q-net applied to the vector."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from hyperret_eval.core.bars import progress_bar
from hyperret_eval.data.training_examples import Text, token_ids
from hyperret_eval.models.hypencoder.config import INITS, PASSAGE_POOLINGS
from hyperret_eval.models.hypencoder.hypernetwork import QNetHypernetwork
from hyperret_eval.models.hypencoder.qnet import QNets, QNetShape
from hyperret_eval.models.text_bound import clip_text



def warm_start_offset(qnet_layers: int) -> float:
    """The bias offset of the warm start (see ``reset_parameters_warm_start``) for a q-net
    with ``qnet_layers`` hidden layers. Hidden layer i sees about p + (i - 1)·z(p), so its
    most negative entry grows with depth: measured on MiniLM with SciFact passages, -0.5,
    -4.8, -13.4, -22.1 and -30.7 for 1, 2, 4, 6 and 8 layers, all within 10 per layer."""
    return 10.0 * qnet_layers


def pool_passages(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per passage.

    ``mean-unmasked-sum`` reproduces the reference implementation's mean pooling, which
    sums the states of all positions, padding included, and divides by the number of real
    tokens; ``mean`` is the masked mean, the choice for new models.
    """
    if pooling == "cls":
        return hidden[:, 0]
    count = mask.sum(dim=1, keepdim=True).clamp(min=1).to(hidden.dtype)
    if pooling == "mean-unmasked-sum":
        return hidden.sum(dim=1) / count
    if pooling == "mean":
        return (hidden * mask.unsqueeze(-1).to(hidden.dtype)).sum(dim=1) / count
    raise ValueError(f"unknown passage pooling {pooling!r}; expected one of {PASSAGE_POOLINGS}")


def _batch_starts(count: int, batch_size: int, description: str, show_progress: bool):
    return progress_bar(range(0, count, batch_size), desc=description, unit="batch", disable=not show_progress)


class Hypencoder(nn.Module):
    def __init__(self, query_backbone: nn.Module, passage_backbone: nn.Module | None, tokenizer,
                 shape: QNetShape, passage_pooling: str = "cls", max_length: int | None = None) -> None:
        super().__init__()
        if passage_pooling not in PASSAGE_POOLINGS:
            raise ValueError(f"unknown passage pooling {passage_pooling!r}; expected one of {PASSAGE_POOLINGS}")
        self.query_backbone = query_backbone
        self.passage_backbone = passage_backbone  # None: shared with the query side
        self.tokenizer = tokenizer
        self.hypernetwork = QNetHypernetwork(query_backbone.config.hidden_size, shape)
        self.passage_pooling = passage_pooling
        # Never past what the position embeddings cover, whatever the tokenizer claims.
        self.length_limit = min(int(tokenizer.model_max_length), int(query_backbone.config.max_position_embeddings))
        self.max_length = min(max_length, self.length_limit) if max_length else self.length_limit

    @property
    def shape(self) -> QNetShape:
        return self.hypernetwork.shape

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tokenize(self, texts: Sequence[Text], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """A padded batch of texts, or of token ids (training data may come pre-tokenized),
        of at most ``max_length`` tokens each (the model's own ``max_length`` by default,
        never past what its position embeddings cover). Texts are cut before the tokenizer
        sees them, so a huge one cannot exhaust memory."""
        length = min(max_length, self.length_limit) if max_length else self.max_length
        texts = [clip_text(text, length) if isinstance(text, str) else text for text in texts]
        if all(isinstance(text, str) for text in texts):
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=length, return_tensors="pt")
        else:
            batch = self.tokenizer.pad({"input_ids": token_ids(self.tokenizer, texts, length)},
                                       return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def query_qnets(self, batch: dict[str, torch.Tensor]) -> QNets:
        hidden = self.query_backbone(**batch).last_hidden_state
        return self.hypernetwork(hidden, batch["attention_mask"])

    def passage_vectors(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        backbone = self.passage_backbone if self.passage_backbone is not None else self.query_backbone
        hidden = backbone(**batch).last_hidden_state
        return pool_passages(hidden.float(), batch["attention_mask"], self.passage_pooling)

    @torch.inference_mode()
    def encode_queries(self, texts: list[str], batch_size: int = 32, show_progress: bool = False,
                       max_length: int | None = None) -> QNets:
        """The q-nets of ``texts``; ``max_length`` tokens per query overrides the model's
        own length (the official replication reads 512 on BEIR, 64 on MS MARCO)."""
        parts = [self.query_qnets(self.tokenize(texts[i : i + batch_size], max_length))
                 for i in _batch_starts(len(texts), batch_size, "Encoding queries", show_progress)]
        return QNets(
            [torch.cat([p.weights[k] for p in parts]) for k in range(len(parts[0].weights))],
            [torch.cat([p.biases[k] for p in parts]) for k in range(len(parts[0].biases))],
            self.shape,
        )

    @torch.inference_mode()
    def encode_passages(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> torch.Tensor:
        """[N, d]; each batch is padded to its longest member."""
        return torch.cat([self.passage_vectors(self.tokenize(texts[i : i + batch_size]))
                          for i in _batch_starts(len(texts), batch_size, "Encoding passages", show_progress)])

    @classmethod
    def from_pretrained(cls, path: str | Path) -> Hypencoder:
        """Load a checkpoint in the released format or our own (see ``checkpoint.py``) from a
        folder, or from the hub when ``path`` is a string ``org/name`` naming no local folder
        (``Hypencoder.from_pretrained("jfkback/hypencoder.2_layer")``)."""
        from hyperret_eval.models.hub import fetch_snapshot, looks_like_hub_id
        from hyperret_eval.models.hypencoder.checkpoint import load_checkpoint

        folder = Path(path).expanduser()
        if isinstance(path, str) and not folder.exists() and looks_like_hub_id(path):
            folder = fetch_snapshot(path)
        parts = load_checkpoint(folder)
        model = cls(parts.query_backbone, parts.passage_backbone, parts.tokenizer, parts.shape,
                    passage_pooling=parts.passage_pooling, max_length=parts.max_length)
        model.hypernetwork.load_state_dict(parts.hypernetwork_state)
        return model.eval()

    def save_pretrained(self, path: str | Path) -> None:
        """Save in our format (atomically): the released layout with safetensors weights
        and the backbone config inside, so loading needs no network and no guessing."""
        from hyperret_eval.models.hypencoder.checkpoint import save_checkpoint

        save_checkpoint(self, Path(path))

    def save_pretrained_with(self, path: str | Path, extra) -> None:
        """:meth:`save_pretrained`, with ``extra(staging_folder)`` adding files to the same atomic swap."""
        from hyperret_eval.models.hypencoder.checkpoint import save_checkpoint

        save_checkpoint(self, Path(path), extra)

    @classmethod
    def from_backbone(cls, backbone: str = "minilm", qnet_layers: int = 2, shared_encoder: bool = True,
                      passage_pooling: str = "mean", activation: str = "relu", seed: int = 1,
                      max_length: int = 256, init: str = "warm") -> Hypencoder:
        """A fresh Hypencoder on a backbone; a k-layer q-net has k hidden layers
        (``vector_dimensions = [d] * (k + 1) + [1]``).

        ``init="warm"`` starts every q-net as the scaled cosine of the centred mean-pooled
        query and passage vectors (``QNetHypernetwork.reset_parameters_warm_start``), so a
        backbone that already retrieves well keeps its ranking at step 0;
        ``init="reference"`` initialises as the paper's code does, for a backbone with no
        retrieval training and a long budget."""
        from transformers import AutoModel, AutoTokenizer

        from hyperret_eval.models.backbones import backbone_path
        from hyperret_eval.models.folder_safety import check_vocabulary

        if qnet_layers < 1:
            raise ValueError(f"qnet_layers must be at least 1, got {qnet_layers}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; expected one of {INITS}")
        path = str(backbone_path(backbone))
        query_backbone = AutoModel.from_pretrained(path)
        passage_backbone = None if shared_encoder else AutoModel.from_pretrained(path)
        d = query_backbone.config.hidden_size
        shape = QNetShape(vector_dimensions=(d,) * (qnet_layers + 1) + (1,), activation=activation)
        tokenizer = AutoTokenizer.from_pretrained(path)
        check_vocabulary(tokenizer, query_backbone, path)
        model = cls(query_backbone, passage_backbone, tokenizer, shape, passage_pooling, max_length=max_length)
        if init == "warm":
            model.hypernetwork.reset_parameters_warm_start(seed=seed, offset=warm_start_offset(qnet_layers))
        else:
            model.hypernetwork.reset_parameters_as_reference(seed=seed)
        return model
