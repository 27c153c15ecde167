"""Hypencoder and BE training settings, and the choices each setting allows (imports no
torch: the catalogue checks recipes without loading a model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hyperret_eval.core.errors import DataNotFoundError, UserError
from hyperret_eval.data.beir import beir_split_files
from hyperret_eval.data.folders import SCIFACT
from hyperret_eval.data.training_examples import jsonl_files
from hyperret_eval.models.hypencoder.mining import MINERS
from hyperret_eval.models.recipe import SCHEDULES, Recipe

MODEL_KINDS = ("hypencoder", "be")
# The paper of both: the Hypencoder, and the bi-encoder baseline its experiments train the same way.
HYPENCODER_PAPER = "https://arxiv.org/abs/2502.05364"
INITS = ("warm", "reference")  # see Hypencoder.from_backbone
PASSAGE_POOLINGS = ("cls", "mean", "mean-unmasked-sum")  # see modeling.pool_passages
CROSS_ENTROPY_CANDIDATES = ("all", "positives")


@dataclass(frozen=True)
class RetrievalTrainConfig(Recipe):
    """Hypencoder or BE training: every setting, with the training data files, names the checkpoint."""

    name: str = "hypencoder-minilm-l6"
    model: str = "hypencoder"  # or "be"
    backbone: str = "minilm"  # the packaged MiniLM, a local model folder or a hub id (models.backbones)
    qnet_layers: int = 2
    # "warm": the q-nets start as the backbone's (centred) cosine, so training starts from
    # the bi-encoder's ranking instead of chance;
    # "reference": the paper's initialisation, for a backbone with no retrieval training.
    init: str = "warm"
    passage_pooling: str = "mean"
    shared_encoder: bool = True
    freeze_backbone: bool = False  # train the hypernetwork only (Hypencoder heads on a fixed encoder)
    max_length: int = 256  # tokens per query or passage
    dataset: str = SCIFACT  # a BEIR folder under the data root
    split: str = "train"
    miner: str = "bm25"
    training_file: str | None = None  # JSONL in the paper's MS MARCO format; replaces dataset/split/miner
    negatives: int = 3
    batch_size: int = 8
    # One rate for every parameter, as the paper's recipe has. A separate hypernetwork rate
    # (head_learning_rate) suits the reference init only: with a warm start and the passage
    # side frozen, 3e-4 on the hypernetwork took SciFact nDCG@10 from 64.5 to 44.3 in 100
    # steps, where 2e-5 reached 69.3.
    learning_rate: float = 2e-5
    head_learning_rate: float | None = None  # None: learning_rate
    weight_decay: float = 0.01  # AdamW's default; the paper trains with 0
    lr_schedule: str = "linear"  # or "constant_with_warmup" (the paper's)
    warmup_steps: int = 0
    cross_entropy_candidates: str = "all"  # or "positives": the batch's positives only (the paper's)
    max_steps: int = 100
    save_every: int = 50
    seed: int = 42
    teacher_scores: str | None = None
    margin_mse_weight: float = 1.0

    def __post_init__(self) -> None:
        self.check_common()
        for setting, allowed in (("model", MODEL_KINDS), ("miner", MINERS), ("init", INITS),
                                 ("lr_schedule", SCHEDULES), ("cross_entropy_candidates", CROSS_ENTROPY_CANDIDATES)):
            if getattr(self, setting) not in allowed:
                raise UserError(f"{setting} must be one of {allowed}, got {getattr(self, setting)!r}")
        if self.batch_size < 2 or self.negatives < 0 or self.max_steps < 1 or self.qnet_layers < 1:
            raise UserError("batch_size >= 2, negatives >= 0, max_steps >= 1 and qnet_layers >= 1 are required")
        if self.warmup_steps < 0 or self.max_length < 8:
            raise UserError("warmup_steps >= 0 and max_length >= 8 are required")
        if self.freeze_backbone and self.model == "be":
            raise UserError("a bi-encoder with a frozen backbone has nothing to train: freeze_backbone is for Hypencoder")
        if self.training_file and self.teacher_scores:
            raise UserError("training_file carries its teacher scores in its items; teacher_scores is for BEIR data")

    def data_folders(self) -> tuple[str, ...]:
        return () if self.training_file else (self.dataset,)

    def training_files(self, data_root: Path | None) -> list[Path]:
        if self.training_file:
            return jsonl_files(Path(self.training_file).expanduser())
        if data_root is None:
            raise UserError(f"training {self.name} needs --data-root (or HYPERRET_DATA): it reads {self.dataset}")
        files = list(beir_split_files(data_root / self.dataset, self.split))
        if self.teacher_scores:
            teacher = Path(self.teacher_scores).expanduser()
            if not teacher.is_file():
                raise DataNotFoundError(f"teacher scores file not found: {teacher}")
            files.append(teacher)
        return files
