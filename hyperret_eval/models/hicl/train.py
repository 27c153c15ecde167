"""HiCL / SimCSE training: unlabeled text, two dropout views of each batch, InfoNCE losses.

The output directory is always a loadable sentence-transformers model (the latest
checkpoint) with its training state under ``training/``; the loop itself, with resuming
and atomic saves, is :func:`hyperret_eval.models.training.train_resumable`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from hyperret_eval.core.provenance import data_fingerprint
from hyperret_eval.data.text import read_lines, unlabeled_texts
from hyperret_eval.models.backbones import backbone_path
from hyperret_eval.models.hicl.card import write_model_card
from hyperret_eval.models.hicl.config import TrainConfig
from hyperret_eval.models.hicl.losses import hicl_loss
from hyperret_eval.models.hicl.modeling_hicl import HiCLEncoder
from hyperret_eval.models.sentence_model import save_sentence_transformer
from hyperret_eval.models.training import Trainee, TrainResult, train_resumable
from hyperret_eval.models.training_state import read_state


def _load_texts(config: TrainConfig, data_root: Path | None) -> tuple[list[str], list[Path]]:
    files = config.training_files(data_root)
    if config.text_file:
        return read_lines(files[0]), files
    return unlabeled_texts(data_root, config.text_sources)


class _HiCLTrainee(Trainee):
    """Dropout (training mode) makes HiCL's two views of each text."""

    def __init__(self, config: TrainConfig, texts: list[str], resume_from: Path | None, device: str) -> None:
        self.config, self.texts, self.device = config, texts, device
        self.model = HiCLEncoder.load(str(resume_from)) if resume_from else HiCLEncoder(
            str(backbone_path(config.backbone)),
            segment_length=config.segment_length,
            max_tokens=config.max_tokens,
            pooling=config.pooling,
            aggregation=config.aggregation,
            recipe=json.loads(json.dumps(config.to_dict())),  # as the training state holds it
        )
        self.model.to(device)
        self.train_mode()

    def batch_loss(self, step: int, indices: np.ndarray) -> tuple[torch.Tensor, dict]:
        config = self.config
        features = self.model.preprocess([self.texts[i] for i in indices])
        features = {k: v.to(self.device) for k, v in features.items()}
        view1 = self.model(dict(features))
        view2 = self.model(dict(features))
        losses = hicl_loss(
            view1["sentence_embedding"].float(),
            view2["sentence_embedding"].float(),
            view1["segment_embeddings"].float(),
            view2["segment_embeddings"].float(),
            features["segment_text"],
            alpha=config.alpha,
            temperature=config.temperature,
            same_text_segments=config.same_text_segments,
        )
        return losses["loss"], {k: round(float(v.detach()), 6) for k, v in losses.items()}

    def save(self, folder: Path, extra: Callable[[Path], None]) -> None:
        from sentence_transformers import SentenceTransformer

        # Wrapping the encoder puts it in eval mode; the loop switches dropout back on.
        model = SentenceTransformer(modules=[self.model], device=str(next(self.model.parameters()).device))

        def state_and_card(staging: Path) -> None:
            extra(staging)
            write_model_card(staging, read_state(staging))

        save_sentence_transformer(model, folder, state_and_card)


def train(config: TrainConfig, output: Path, data_root: Path | None, device: str = "cpu",
          on_step: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume) ``config`` into ``output``; ``on_step`` sees each step's record.
    ``config.bf16`` turns bfloat16 autocast on, on a GPU that supports it."""
    texts, files = _load_texts(config, data_root)
    files_sha256, data_revision = data_fingerprint(files, data_root or Path("."))
    return train_resumable(
        config, output, device=device, examples=len(texts),
        data={"revision": data_revision, "texts": len(texts), "files_sha256": files_sha256},
        build=lambda resume_from: _HiCLTrainee(config, texts, resume_from, device),
        on_step=on_step, autocast=config.bf16)
