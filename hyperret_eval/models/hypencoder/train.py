"""Training Hypencoder, and the bi-encoder baseline (BE) with the very same loop.

Data: a BEIR training split at the data root (default SciFact train), each judged query
with its positive passage and hard negatives mined by BM25 or the backbone; or a JSONL
file (or folder of them) in the format of the paper's MS MARCO training set, read as
batches need it (:mod:`hyperret_eval.data.training_examples`). Loss: cross-entropy over
the batch's passages (every other query's positive and negatives are in-batch negatives,
or with ``cross_entropy_candidates = "positives"`` only the other queries' positives, as
the paper trains), plus margin-MSE against teacher scores when there are any (the JSONL
items' scores, or a ``query-id  doc-id  score`` file). Checkpoints are replaced
atomically and a run started again with the same settings resumes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hyperret_eval.core import atomic
from hyperret_eval.core.distributed import World, all_gather_with_grad, barrier, current_world, reduce_mean
from hyperret_eval.core.errors import DataFormatError, DataNotFoundError, UserError
from hyperret_eval.data.beir import beir_split_files, read_beir_folder
from hyperret_eval.data.textfile import numbered_lines
from hyperret_eval.data.training_examples import Example, ScoredItems, Text, jsonl_files, token_ids
from hyperret_eval.models.hypencoder.mining import MINERS, mine_examples
from hyperret_eval.models.training import (
    STATE_DIR,
    Recipe,
    epoch_batches,
    load_optimizer_state,
    optimizer_step,
    record_step,
    save_optimizer_state,
    seed_everything,
)

MODEL_KINDS = ("hypencoder", "be")
SCHEDULES = ("linear", "constant_with_warmup")  # transformers' schedules of those names
CROSS_ENTROPY_CANDIDATES = ("all", "positives")
BE_SCALE = 20.0  # cosine scores x 20 before the softmax, as sentence-transformers' MNRL does


@dataclass(frozen=True)
class RetrievalTrainConfig(Recipe):
    name: str = "hypencoder-minilm-l6"
    model: str = "hypencoder"  # or "be"
    backbone: str = "minilm"  # registry name, local model folder or hub id
    qnet_layers: int = 2
    # "warm": the q-nets start as the backbone's (centred) cosine, so training starts from
    # the bi-encoder's ranking instead of chance;
    # "reference": the paper's initialisation, for a backbone with no retrieval training.
    init: str = "warm"
    passage_pooling: str = "mean"
    shared_encoder: bool = True
    freeze_backbone: bool = False  # train the hypernetwork only (Hypencoder heads on a fixed encoder)
    max_length: int = 256  # tokens per query or passage
    dataset: str = "beir/scifact"
    split: str = "train"
    miner: str = "bm25"
    training_file: str | None = None  # JSONL in the paper's MS MARCO format; replaces dataset/split/miner
    negatives: int = 3
    batch_size: int = 8
    # One rate for every parameter, as the paper's recipe has. A separate hypernetwork rate
    # (head_learning_rate) suited the reference init only: in issue 12's check (warm start,
    # passage side frozen) 3e-4 on the hypernetwork took SciFact nDCG@10 from 64.5 to 44.3
    # in 100 steps, where 2e-5 reached 69.3.
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
        from hyperret_eval.models.hypencoder.modeling import INITS

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


def read_teacher_scores(path: Path) -> dict[tuple[str, str], float]:
    scores = {}
    for number, line in numbered_lines(path):
        if not line.strip() or line.startswith("query-id"):
            continue
        parts = line.split("\t")
        try:
            scores[(parts[0], parts[1])] = float(parts[2])
        except (IndexError, ValueError):
            raise DataFormatError(path, number, "expected query-id, doc-id and a numeric score, tab-separated") from None
    return scores


def margin_mse(student_pos: torch.Tensor, student_neg: torch.Tensor, teacher_pos: torch.Tensor,
               teacher_neg: torch.Tensor) -> torch.Tensor:
    """MSE between student and teacher margins (positive minus each negative)."""
    return F.mse_loss(student_pos.unsqueeze(1) - student_neg, teacher_pos.unsqueeze(1) - teacher_neg)


class _HypencoderTrainee:
    def __init__(self, config: RetrievalTrainConfig, output: Path, resume: bool) -> None:
        from hyperret_eval.models.hypencoder import Hypencoder

        self.model = Hypencoder.from_pretrained(output) if resume else Hypencoder.from_backbone(
            config.backbone, qnet_layers=config.qnet_layers, shared_encoder=config.shared_encoder,
            passage_pooling=config.passage_pooling, seed=config.seed, max_length=config.max_length, init=config.init)
        self.frozen_backbone = config.freeze_backbone
        if self.frozen_backbone:
            for parameter in self._backbone_parameters():
                parameter.requires_grad_(False)

    def _backbone_parameters(self) -> list[nn.Parameter]:
        head = {id(p) for p in self.model.hypernetwork.parameters()}
        return [p for p in self.model.parameters() if id(p) not in head]

    def parameter_groups(self, config: RetrievalTrainConfig) -> list[dict]:
        head = {"params": list(self.model.hypernetwork.parameters()),
                "lr": config.head_learning_rate or config.learning_rate}
        if self.frozen_backbone:
            return [head]
        return [{"params": self._backbone_parameters(), "lr": config.learning_rate}, head]

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

    def save(self, folder: Path, extra) -> None:
        self.model.save_pretrained_with(folder, extra)


class _BiEncoderTrainee:
    def __init__(self, config: RetrievalTrainConfig, output: Path, resume: bool) -> None:
        from hyperret_eval.catalogue.models import backbone_path, load_sentence_transformer

        self.model = load_sentence_transformer(output if resume else backbone_path(config.backbone), "cpu")
        self.model.max_seq_length = config.max_length

    def parameter_groups(self, config: RetrievalTrainConfig) -> list[dict]:
        return [{"params": list(self.model.parameters()), "lr": config.learning_rate}]

    def train_mode(self) -> None:
        self.model.train()

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

    def save(self, folder: Path, extra) -> None:
        def fill(staging: Path) -> None:
            self.model.save(str(staging))
            extra(staging)

        atomic.write_directory(folder, fill)


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
        from hyperret_eval.catalogue.models import backbone_path, load_sentence_transformer

        encoder_for_mining = load_sentence_transformer(backbone_path(config.backbone), device)
    examples = mine_examples(data, config.miner, config.negatives, seed=config.seed, encoder=encoder_for_mining)
    if config.teacher_scores:
        teacher = read_teacher_scores(Path(config.teacher_scores))
        examples = [dataclasses.replace(ex, teacher_scores=tuple(teacher.get((ex.query_id, d), 0.0)
                                                                 for d in (ex.positive_id, *ex.negative_ids)))
                    for ex in examples]
    return _MinedExamples(examples)


def _scheduler(config: RetrievalTrainConfig, optimizer):
    from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

    if config.lr_schedule == "constant_with_warmup":
        return get_constant_schedule_with_warmup(optimizer, config.warmup_steps)
    return get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)


def _global_mean(world: World, value: torch.Tensor) -> float:
    """The loss the whole batch had (what one process would log), from each rank's part."""
    value = value.detach().clone()
    if world.distributed:
        reduce_mean(world, value)
    return float(value)


@dataclass
class RetrievalTrainResult:
    output: Path
    steps_done: int
    history: list[dict]
    resumed_from: int


def train_retrieval(config: RetrievalTrainConfig, output: Path, data_root: Path, device: str = "cpu",
                    encoder_for_mining=None, on_step: Callable[[dict], None] | None = None,
                    world: World | None = None, autocast: bool = True) -> RetrievalTrainResult:
    """Train (or resume) ``config`` into ``output``; ``on_step`` sees each step's record.

    Under torchrun each rank takes an equal share of every batch (``batch_size`` must divide
    by the number of ranks) and the model is wrapped in DistributedDataParallel; only rank 0
    writes checkpoints, the others read ``output`` to resume (a shared folder across nodes).

    On a GPU that supports bfloat16 the forward passes run under bfloat16 autocast (weights
    and optimizer stay float32) unless ``autocast`` is False (float32 throughout: the
    reference ``benchmarks/gpu_check.py`` compares the bfloat16 losses with). Like the
    device itself, this is not part of the recipe's fingerprint; the state file records it.
    """
    from torch.nn.parallel import DistributedDataParallel

    world = world or current_world()
    if config.batch_size % world.size:
        raise UserError(f"batch_size {config.batch_size} does not split evenly over {world.size} processes")

    examples = _training_examples(config, data_root, encoder_for_mining, device)
    if len(examples) < config.batch_size:
        raise UserError(f"only {len(examples)} training examples, fewer than one batch of {config.batch_size}")

    state_file = output / STATE_DIR / "state.json"
    resume = state_file.is_file()
    state = json.loads(state_file.read_text(encoding="utf-8")) if resume else None
    if state is not None and state["config"] != json.loads(json.dumps(config.to_dict())):
        raise UserError(f"{output} holds a run with a different configuration; choose another --output")
    if not resume and output.exists() and any(output.iterdir()):
        raise UserError(f"{output} exists and is not a training checkpoint; choose another --output")

    seed_everything(config.seed)
    trainee = (_HypencoderTrainee if config.model == "hypencoder" else _BiEncoderTrainee)(config, output, resume)
    trainee.model.to(device)
    trainee.train_mode()
    scorer = _BatchScorer(trainee, world)
    if world.distributed:
        # The backbone's pooler takes no part in the loss: its parameters get no gradient.
        scorer = DistributedDataParallel(scorer, device_ids=[torch.device(device).index] if device.startswith("cuda") else None,
                                         find_unused_parameters=True)
    optimizer = torch.optim.AdamW(trainee.parameter_groups(config), weight_decay=config.weight_decay)
    scheduler = _scheduler(config, optimizer)
    start = 0
    if resume:
        load_optimizer_state(output, optimizer, scheduler)
        start = int(state["step"])
    else:
        state = {"config": json.loads(json.dumps(config.to_dict())), "examples": len(examples), "step": 0, "history": []}

    bf16 = autocast and device.startswith("cuda") and torch.cuda.is_bf16_supported()
    state["autocast"] = "bfloat16" if bf16 else None
    progress = tqdm(total=config.max_steps, initial=start, desc=f"Training {config.name}", unit="step",
                    disable=not world.is_main)
    started = time.perf_counter()
    for step, indices in epoch_batches(len(examples), config.batch_size, config.seed, start):
        if step >= config.max_steps:
            break
        rng = np.random.default_rng([config.seed, step])  # negatives drawn per step: a resumed run draws the same
        batch = [examples.example(int(i), config.negatives, rng) for i in indices]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=bf16):
            loss, record = batch_loss(scorer, batch, world, config.margin_mse_weight, config.cross_entropy_candidates)
        optimizer_step(loss, optimizer, scheduler)
        record.update(step=step + 1, loss=_global_mean(world, loss), elapsed_s=round(time.perf_counter() - started, 2))
        if record_step(state, record, progress, on_step, config.save_every, config.max_steps):
            def extra(folder: Path, state=state) -> None:
                save_optimizer_state(folder, optimizer, scheduler)
                atomic.write_json(folder / STATE_DIR / "state.json", state)

            if world.is_main:
                trainee.save(output, extra)
            barrier(world)
            trainee.train_mode()
    progress.close()
    return RetrievalTrainResult(output, state["step"], state["history"], start)
