"""HiCL/SimCSE training settings, and the choices each setting allows (imports no torch:
the catalogue checks recipes without loading a model)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperret_eval.core.errors import DataNotFoundError, UserError
from hyperret_eval.core.paths import default_cache_root
from hyperret_eval.data.download import hub_file, is_hub_file
from hyperret_eval.data.text import text_source_files, text_source_folders
from hyperret_eval.models.recipe import Recipe

POOLINGS = ("mean", "cls")  # a segment's vector: the mean over its tokens, or its first token
AGGREGATIONS = ("weighted", "mean")  # a text's vector: segment vectors weighted by length, or not
SAME_TEXT_SEGMENTS = ("neither", "positive", "negative")  # segments of one text in the local loss


HICL_PAPER = "https://arxiv.org/abs/2310.09720"
SIMCSE_PAPER = "https://arxiv.org/abs/2104.08821"


def is_simcse(alpha: float, segment_length: int, max_tokens: int) -> bool:
    """Whether HiCL's loop with these settings is unsupervised SimCSE: one segment per text
    (segments as long as the text) and no segment loss."""
    return alpha == 0 and segment_length >= max_tokens


@dataclass(frozen=True)
class TrainConfig(Recipe):
    """Everything that determines a training run (with the data it reads).

    ``segment_length == max_tokens`` gives one segment per text; with ``alpha == 0`` that
    is unsupervised SimCSE, trained by the very same loop.
    """

    name: str = "hicl-minilm-l6"
    backbone: str = "minilm"  # the packaged MiniLM, a local model folder or a hub id (models.backbones)
    segment_length: int = 32
    max_tokens: int = 128
    pooling: str = "mean"
    aggregation: str = "weighted"
    alpha: float = 0.2  # weight of the local (segment) loss; the paper keeps it below 1
    temperature: float = 0.05
    same_text_segments: str = "neither"
    # Sized for a 2-core CPU (about 15 minutes for both recipes); on a GPU, raise
    # batch_size and max_steps (SimCSE's paper used 64 and about 1M sentences).
    batch_size: int = 32
    learning_rate: float = 3e-5
    weight_decay: float = 0.0
    max_steps: int = 100
    save_every: int = 50
    seed: int = 42
    text_sources: tuple[str, ...] = ("senteval", "scifact", "trec-dl")
    # One text per line; replaces text_sources when set. hf://datasets/<org>/<name>/<file>
    # names a file of a hub dataset, fetched into the cache when online.
    text_file: str | None = None
    bf16: bool = True  # on CUDA only

    def __post_init__(self) -> None:
        self.check_common()
        checks = [
            (self.segment_length >= 1, "segment_length must be at least 1"),
            (self.max_tokens >= self.segment_length, "max_tokens must be at least segment_length"),
            (self.pooling in POOLINGS, f"pooling must be one of {POOLINGS}"),
            (self.aggregation in AGGREGATIONS, f"aggregation must be one of {AGGREGATIONS}"),
            (0.0 <= self.alpha, "alpha must be non-negative"),
            (self.temperature > 0, "temperature must be positive"),
            (self.same_text_segments in SAME_TEXT_SEGMENTS, f"same_text_segments must be one of {SAME_TEXT_SEGMENTS}"),
            (self.batch_size >= 2, "batch_size must be at least 2 (in-batch negatives)"),
            (self.max_steps >= 1, "max_steps must be at least 1"),
            (self.save_every >= 1, "save_every must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(f"training config {self.name!r}: {message}")

    def training_files(self, data_root: Path | None) -> list[Path]:
        if self.text_file and is_hub_file(self.text_file):
            return [hub_file(self.text_file, default_cache_root())]
        if self.text_file:
            path = Path(self.text_file).expanduser()
            if not path.is_file():
                raise DataNotFoundError(f"training text file not found: {path}")
            return [path]
        if data_root is None:
            raise UserError("training needs --data-root (or HYPERRET_DATA) to build its text, or a text_file")
        return text_source_files(data_root, self.text_sources)

    def data_folders(self) -> tuple[str, ...]:
        return () if self.text_file else text_source_folders(self.text_sources)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

