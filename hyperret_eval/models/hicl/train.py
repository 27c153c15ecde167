"""The HiCL / SimCSE training loop: unlabeled text, two dropout views, InfoNCE losses.

The output directory is always a loadable sentence-transformers model (the latest
checkpoint) with its training state under ``training/``; it is replaced atomically at
every save, and a run started again with the same configuration resumes from it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from hyperret_eval.catalogue.models import backbone_path
from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.provenance import data_fingerprint, package_versions
from hyperret_eval.data.text import read_lines, unlabeled_texts
from hyperret_eval.models.hicl.config import TrainConfig
from hyperret_eval.models.hicl.losses import hicl_loss
from hyperret_eval.models.hicl.module import HiCLEncoder
from hyperret_eval.models.training import (
    STATE_DIR,
    epoch_batches,
    load_optimizer_state,
    optimizer_step,
    record_step,
    save_optimizer_state,
    seed_everything,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output: Path
    steps_done: int
    history: list[dict]
    resumed_from: int


def _load_texts(config: TrainConfig, data_root: Path | None) -> tuple[list[str], list[Path]]:
    files = config.training_files(data_root)
    if config.text_file:
        return read_lines(files[0]), files
    return unlabeled_texts(data_root, config.text_sources)


def _build_model(config: TrainConfig, output: Path) -> tuple[HiCLEncoder, dict | None]:
    """A fresh model on the backbone, or the checkpoint in ``output`` if it is resumable."""
    state_file = output / STATE_DIR / "state.json"
    if not state_file.is_file():
        if output.exists() and any(output.iterdir()):
            raise UserError(f"{output} exists and is not a training checkpoint; choose another --output")
        encoder = HiCLEncoder(
            str(backbone_path(config.backbone)),
            segment_length=config.segment_length,
            max_tokens=config.max_tokens,
            pooling=config.pooling,
            aggregation=config.aggregation,
        )
        return encoder, None
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if state["config"] != json.loads(json.dumps(config.to_dict())):
        raise UserError(
            f"{output} holds a run with a different configuration; resume it with the same settings, "
            "or choose another --output"
        )
    return HiCLEncoder.load(str(output)), state


def _save(encoder: HiCLEncoder, optimizer, scheduler, state: dict, output: Path) -> None:
    from sentence_transformers import SentenceTransformer

    def fill(folder: Path) -> None:
        SentenceTransformer(modules=[encoder], device=str(next(encoder.parameters()).device)).save(str(folder))
        save_optimizer_state(folder, optimizer, scheduler)
        atomic.write_json(folder / STATE_DIR / "state.json", state)

    atomic.write_directory(output, fill)
    # Wrapping the encoder in a SentenceTransformer puts it in eval mode: switch dropout,
    # HiCL's source of views, back on.
    encoder.train()


def train(config: TrainConfig, output: Path, data_root: Path | None, device: str = "cpu",
          on_step: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume) ``config`` into ``output``; ``on_step`` sees each step's record."""
    from transformers import get_linear_schedule_with_warmup

    texts, files = _load_texts(config, data_root)
    if len(texts) < config.batch_size:
        raise UserError(f"only {len(texts)} training texts, fewer than one batch of {config.batch_size}")
    files_sha256, data_revision = data_fingerprint(files, data_root or Path("."))

    seed_everything(config.seed)
    encoder, state = _build_model(config, output)
    encoder.to(device)
    encoder.train()
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=0, num_training_steps=config.max_steps)
    start = 0
    if state is not None:
        load_optimizer_state(output, optimizer, scheduler)
        start = int(state["step"])
    else:
        state = {
            "config": json.loads(json.dumps(config.to_dict())),
            "data": {"revision": data_revision, "texts": len(texts), "files_sha256": files_sha256},
            "packages": package_versions(),
            "step": 0,
            "history": [],
        }
    if start >= config.max_steps:
        return TrainResult(output, start, state["history"], start)

    use_bf16 = config.bf16 and device.startswith("cuda") and torch.cuda.is_bf16_supported()
    progress = tqdm(total=config.max_steps, initial=start, desc=f"Training {config.name}", unit="step")
    started = time.perf_counter()
    for step, indices in epoch_batches(len(texts), config.batch_size, config.seed, start):
        if step >= config.max_steps:
            break
        features = encoder.preprocess([texts[i] for i in indices])
        features = {k: v.to(device) for k, v in features.items()}
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
            view1 = encoder(dict(features))
            view2 = encoder(dict(features))
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
        optimizer_step(losses["loss"], optimizer, scheduler)
        record = {k: round(float(v.detach()), 6) for k, v in losses.items()}
        record.update(step=step + 1, lr=scheduler.get_last_lr()[0], elapsed_s=round(time.perf_counter() - started, 2))
        if record_step(state, record, progress, on_step, config.save_every, config.max_steps):
            _save(encoder, optimizer, scheduler, state, output)
    progress.close()
    return TrainResult(output, state["step"], state["history"], start)
