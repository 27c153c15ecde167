"""Training Hypencoder, and the bi-encoder baseline (BE) with the very same step.

Data: a BEIR training split at the data root (default SciFact train), each judged query
with its positive passage and hard negatives mined by BM25 or the backbone; or a JSONL
file (or folder of them) in the format of the paper's MS MARCO training set, read as
batches need it (:mod:`hyperret_eval.data.training_examples`). Loss: cross-entropy over
the batch's passages (every other query's positive and negatives are in-batch negatives,
or with ``cross_entropy_candidates = "positives"`` only the other queries' positives, as
the paper trains), plus margin-MSE against teacher scores when there are any (the JSONL
items' scores, or a ``query-id  doc-id  score`` file). The loop itself, with resuming and
saving, is :func:`hyperret_eval.models.training.train_resumable`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hyperret_eval.core.distributed import all_gather_with_grad, reduce_mean
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.world import World, current_world
from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.data.teacher_scores import read_teacher_scores
from hyperret_eval.data.training_examples import Example, ScoredItems, Text, token_ids
from hyperret_eval.models.backbones import backbone_path
from hyperret_eval.models.hypencoder.config import RetrievalTrainConfig
from hyperret_eval.models.hypencoder.mining import mine_examples
from hyperret_eval.models.sentence_model import load_sentence_transformer, save_sentence_transformer
from hyperret_eval.models.training import Trainee, TrainResult, train_resumable

BE_SCALE = 20.0  # cosine scores x 20 before the softmax, as sentence-transformers' MNRL does


def margin_mse(student_pos: torch.Tensor, student_neg: torch.Tensor, teacher_pos: torch.Tensor,
               teacher_neg: torch.Tensor) -> torch.Tensor:
    """MSE between student and teacher margins (positive minus each negative)."""
    return F.mse_loss(student_pos.unsqueeze(1) - student_neg, teacher_pos.unsqueeze(1) - teacher_neg)


class _RetrievalTrainee(Trainee):
    """What Hypencoder and BE share in the loop: a step scores a batch of examples (see
    :func:`batch_loss`). Each subclass holds its ``model`` and says how it encodes, scores
    and saves."""

    def __init__(self, config: RetrievalTrainConfig) -> None:
        self.config = config
        self.examples = None
        self.scorer: nn.Module | None = None
        self.world = World()

    def start(self, examples, world: World, device: str) -> None:
        """Move to ``device``, switch to training mode and take the step's data: under
        torchrun the batch scorer is wrapped in DistributedDataParallel."""
        from torch.nn.parallel import DistributedDataParallel

        self.model.to(device)
        self.train_mode()
        self.examples, self.world = examples, world
        self.scorer = _BatchScorer(self, world)
        if world.distributed:
            # The backbone's pooler takes no part in the loss: its parameters get no gradient.
            self.scorer = DistributedDataParallel(
                self.scorer, device_ids=[torch.device(device).index] if device.startswith("cuda") else None,
                find_unused_parameters=True)

    def batch_loss(self, step: int, indices: np.ndarray) -> tuple[torch.Tensor, dict]:
        config = self.config
        rng = np.random.default_rng([config.seed, step])  # negatives drawn per step: a resumed run draws the same
        batch = [self.examples.example(int(i), config.negatives, rng) for i in indices]
        loss, record = batch_loss(self.scorer, batch, self.world, config.margin_mse_weight,
                                  config.cross_entropy_candidates)
        record["loss"] = _global_mean(self.world, loss)
        return loss, record


class _HypencoderTrainee(_RetrievalTrainee):
    def __init__(self, config: RetrievalTrainConfig, resume_from: Path | None) -> None:
        from hyperret_eval.models.hypencoder import Hypencoder

        super().__init__(config)
        self.model = Hypencoder.from_pretrained(resume_from) if resume_from else Hypencoder.from_backbone(
            config.backbone, qnet_layers=config.qnet_layers, shared_encoder=config.shared_encoder,
            passage_pooling=config.passage_pooling, seed=config.seed, max_length=config.max_length, init=config.init)
        self.frozen_backbone = config.freeze_backbone
        if self.frozen_backbone:
            for parameter in self._backbone_parameters():
                parameter.requires_grad_(False)

    def _backbone_parameters(self) -> list[nn.Parameter]:
        head = {id(p) for p in self.model.hypernetwork.parameters()}
        return [p for p in self.model.parameters() if id(p) not in head]

    def parameter_groups(self) -> list[dict]:
        head = {"params": list(self.model.hypernetwork.parameters()),
                "lr": self.config.head_learning_rate or self.config.learning_rate}
        if self.frozen_backbone:
            return [head]
        return [{"params": self._backbone_parameters(), "lr": self.config.learning_rate}, head]

    def train_mode(self) -> None:
        """Training mode; a frozen backbone stays in eval mode (no dropout): a fixed encoder."""
        self.model.train()
        if self.frozen_backbone:
            for backbone in (self.model.query_backbone, self.model.passage_backbone):
                if backbone is not None:
                    backbone.eval()

    def encode_queries(self, queries: list[Text]):
        return self.model.query_qnets(self.model.tokenize(queries))

    def encode_passages(self, passages: list[Text]) -> torch.Tensor:
        return self.model.passage_vectors(self.model.tokenize(passages))

    @staticmethod
    def score(queries, passages: torch.Tensor) -> torch.Tensor:
        return queries.score(passages)

    def save(self, folder: Path, extra: Callable[[Path], None]) -> None:
        self.model.save_pretrained_with(folder, extra)


class _BiEncoderTrainee(_RetrievalTrainee):
    def __init__(self, config: RetrievalTrainConfig, resume_from: Path | None) -> None:
        super().__init__(config)
        self.model = load_sentence_transformer(resume_from or backbone_path(config.backbone), "cpu")
        self.model.max_seq_length = config.max_length

    def _embed(self, texts: list[Text]) -> torch.Tensor:
        if all(isinstance(text, str) for text in texts):
            features = self.model.preprocess(texts)
        else:  # pre-tokenized training data
            features = self.model.tokenizer.pad(
                {"input_ids": token_ids(self.model.tokenizer, texts, self.model.max_seq_length)}, return_tensors="pt")
        features = {k: v.to(self.model.device) if torch.is_tensor(v) else v for k, v in features.items()}
        return F.normalize(self.model(features)["sentence_embedding"], dim=-1)

    def encode_queries(self, queries: list[Text]) -> torch.Tensor:
        return self._embed(queries)

    def encode_passages(self, passages: list[Text]) -> torch.Tensor:
        return self._embed(passages)

    @staticmethod
    def score(queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
        return BE_SCALE * queries @ passages.T

    def save(self, folder: Path, extra: Callable[[Path], None]) -> None:
        save_sentence_transformer(self.model, folder, extra)


TRAINEES = {"hypencoder": _HypencoderTrainee, "be": _BiEncoderTrainee}


class _BatchScorer(nn.Module):
    """One training step's forward: this rank's queries against the passages of the whole
    (global) batch. Under torchrun the passage vectors of every rank are gathered, with
    gradients, so each query meets exactly the in-batch negatives a single process would
    give it; DistributedDataParallel wraps this module and averages the gradients."""

    def __init__(self, trainee, world: World) -> None:
        super().__init__()
        self.trainee = trainee
        self.model = trainee.model  # registered, so DDP sees its parameters
        self.world = world

    def forward(self, queries: list[str], passages: list[str]) -> torch.Tensor:
        vectors = self.trainee.encode_passages(passages)
        if self.world.distributed:
            vectors = torch.cat(all_gather_with_grad(vectors))
        return self.trainee.score(self.trainee.encode_queries(queries), vectors)


def batch_loss(scorer: nn.Module, batch: list[Example], world: World, margin_mse_weight: float = 1.0,
               candidates: str = "all") -> tuple[torch.Tensor, dict]:
    """This rank's loss on its share of the global ``batch`` (all of it in one process), and
    the record of the whole batch's losses.

    Cross-entropy puts each query's positive against ``candidates``: every passage of the
    batch (``all``), or the batch's positives only (``positives``, the paper's in-batch
    loss). Margin-MSE against the examples' teacher scores is added when they have them.
    """
    per_rank = len(batch) // world.size
    mine = range(world.rank * per_rank, (world.rank + 1) * per_rank)
    share = [batch[i] for i in mine]
    group = 1 + len(share[0].negatives)
    passages = [text for ex in share for text in (ex.positive, *ex.negatives)]
    scores = scorer([ex.query for ex in share], passages)  # [B / ranks, B * group]
    # This rank's queries own the positives at their places in the global batch.
    own = torch.tensor(list(mine), device=scores.device)
    if candidates == "positives":
        loss = F.cross_entropy(scores[:, ::group], own)
    else:
        loss = F.cross_entropy(scores, own * group)
    record = {"cross_entropy": _global_mean(world, loss)}
    with_teacher = [ex.teacher_scores is not None for ex in share]
    if any(with_teacher):
        if not all(with_teacher):
            missing = [ex.query_id for ex in share if ex.teacher_scores is None]
            raise UserError(f"training examples without teacher scores beside ones with them (queries {missing[:5]})")
        student = scores.gather(1, (own * group).unsqueeze(1) + torch.arange(group, device=scores.device))
        teacher = torch.tensor([ex.teacher_scores for ex in share], device=scores.device, dtype=student.dtype)
        mse = margin_mse(student[:, 0], student[:, 1:], teacher[:, 0], teacher[:, 1:])
        loss = loss + margin_mse_weight * mse
        record["margin_mse"] = _global_mean(world, mse)
    return loss, record


class _MinedExamples:
    """A BEIR training split's examples, mined before training (the same interface as
    :class:`~hyperret_eval.data.training_examples.ScoredItems`)."""

    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def example(self, index: int, negatives: int, rng: np.random.Generator) -> Example:
        return self.examples[index]


def _training_examples(config: RetrievalTrainConfig, data_root: Path, encoder_for_mining, device: str):
    """Where training examples come from: the JSONL training file, or the BEIR split with
    mined negatives (and teacher scores from the teacher file, 0 for a pair it lacks)."""
    if config.training_file:
        return ScoredItems(Path(config.training_file).expanduser())
    data = read_beir_folder(data_root / config.dataset, config.split)
    if config.miner == "dense" and encoder_for_mining is None:
        encoder_for_mining = load_sentence_transformer(backbone_path(config.backbone), device)
    examples = mine_examples(data, config.miner, config.negatives, seed=config.seed, encoder=encoder_for_mining)
    if config.teacher_scores:
        teacher = read_teacher_scores(Path(config.teacher_scores))
        examples = [dataclasses.replace(ex, teacher_scores=tuple(teacher.get((ex.query_id, d), 0.0)
                                                                 for d in (ex.positive_id, *ex.negative_ids)))
                    for ex in examples]
    return _MinedExamples(examples)


def _global_mean(world: World, value: torch.Tensor) -> float:
    """The loss the whole batch had (what one process would log), from each rank's part."""
    value = value.detach().clone()
    if world.distributed:
        reduce_mean(world, value)
    return float(value)


def train_retrieval(config: RetrievalTrainConfig, output: Path, data_root: Path | None, device: str = "cpu",
                    encoder_for_mining=None, on_step: Callable[[dict], None] | None = None,
                    world: World | None = None, autocast: bool = True) -> TrainResult:
    """Train (or resume) ``config`` into ``output``; ``on_step`` sees each step's record.

    Under torchrun each rank takes an equal share of every batch (``batch_size`` must divide
    by the number of ranks) and the model is wrapped in DistributedDataParallel; only rank 0
    writes checkpoints, the others read ``output`` to resume (a shared folder across nodes).
    ``autocast`` False keeps a GPU in float32 throughout (the reference
    ``benchmarks/gpu_check.py`` compares the bfloat16 losses with).
    """
    world = world or current_world()
    if config.batch_size % world.size:
        raise UserError(f"batch_size {config.batch_size} does not split evenly over {world.size} processes")
    examples = _training_examples(config, data_root, encoder_for_mining, device)

    def build(resume_from: Path | None) -> _RetrievalTrainee:
        trainee = TRAINEES[config.model](config, resume_from)
        trainee.start(examples, world, device)
        return trainee

    return train_resumable(config, output, device=device, examples=len(examples), data={"examples": len(examples)},
                           build=build, lr_schedule=config.lr_schedule, warmup_steps=config.warmup_steps,
                           on_step=on_step, world=world, autocast=autocast)
