"""Training Hypencoder, and the bi-encoder baseline (BE) with the very same loop.

Data: a BEIR training split at the data root (default SciFact train), each judged query
with its positive passage and hard negatives mined by BM25 or the backbone. Loss:
cross-entropy over the batch's passages (every other query's positive and negatives are
in-batch negatives), plus margin-MSE against teacher scores when a teacher file
(``query-id  doc-id  score`` per line) is given. Checkpoints are replaced atomically and
a run started again with the same settings resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hyperret_eval import atomic
from hyperret_eval.data.beir import beir_split_files, read_beir_folder
from hyperret_eval.data.textfile import numbered_lines
from hyperret_eval.distributed import World, all_gather_with_grad, barrier, current_world, reduce_mean
from hyperret_eval.errors import DataFormatError, DataNotFoundError, UserError
from hyperret_eval.models.hypencoder.mining import MINERS, Example, mine_examples
from hyperret_eval.training import (
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
BE_SCALE = 20.0  # cosine scores x 20 before the softmax, as sentence-transformers' MNRL does


@dataclass(frozen=True)
class RetrievalTrainConfig(Recipe):
    name: str = "hypencoder-minilm-l6"
    model: str = "hypencoder"  # or "be"
    backbone: str = "minilm"
    qnet_layers: int = 2
    passage_pooling: str = "mean"
    shared_encoder: bool = True
    dataset: str = "beir/scifact"
    split: str = "train"
    miner: str = "bm25"
    negatives: int = 3
    batch_size: int = 8
    learning_rate: float = 2e-5
    # The hypernetwork starts from the paper's init, where the weight projections are
    # N(0, 1/768^4): at the backbone's rate they would move by ~1e-3 in a 100-step budget,
    # leaving every query with nearly the same q-net. Measured on SciFact (100 steps):
    # 2e-5 gave nDCG@10 2.5, 3e-4 gave 5.6; 1e-3 made the loss climb. BE has no head.
    head_learning_rate: float = 3e-4
    max_steps: int = 100
    save_every: int = 50
    seed: int = 42
    teacher_scores: str | None = None
    margin_mse_weight: float = 1.0

    def __post_init__(self) -> None:
        self.check_common()
        if self.model not in MODEL_KINDS:
            raise UserError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.miner not in MINERS:
            raise UserError(f"miner must be one of {MINERS}, got {self.miner!r}")
        if self.batch_size < 2 or self.negatives < 0 or self.max_steps < 1 or self.qnet_layers < 1:
            raise UserError("batch_size >= 2, negatives >= 0, max_steps >= 1 and qnet_layers >= 1 are required")

    def training_files(self, data_root: Path | None) -> list[Path]:
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
            passage_pooling=config.passage_pooling, seed=config.seed)

    def parameter_groups(self, config: RetrievalTrainConfig) -> list[dict]:
        head = list(self.model.hypernetwork.parameters())
        head_ids = {id(p) for p in head}
        backbone = [p for p in self.model.parameters() if id(p) not in head_ids]
        return [{"params": backbone, "lr": config.learning_rate}, {"params": head, "lr": config.head_learning_rate}]

    def encode_queries(self, queries: list[str]):
        return self.model.query_qnets(self.model.tokenize(queries))

    def encode_passages(self, passages: list[str]) -> torch.Tensor:
        return self.model.passage_vectors(self.model.tokenize(passages))

    @staticmethod
    def score(queries, passages: torch.Tensor) -> torch.Tensor:
        return queries.score(passages)

    def save(self, folder: Path, extra) -> None:
        self.model.save_pretrained_with(folder, extra)


class _BiEncoderTrainee:
    def __init__(self, config: RetrievalTrainConfig, output: Path, resume: bool) -> None:
        from hyperret_eval.models.registry import backbone_path, load_sentence_transformer

        self.model = load_sentence_transformer(output if resume else backbone_path(config.backbone), "cpu")

    def parameter_groups(self, config: RetrievalTrainConfig) -> list[dict]:
        return [{"params": list(self.model.parameters()), "lr": config.learning_rate}]

    def _embed(self, texts: list[str]) -> torch.Tensor:
        features = {k: v.to(self.model.device) if torch.is_tensor(v) else v
                    for k, v in self.model.preprocess(texts).items()}
        return F.normalize(self.model(features)["sentence_embedding"], dim=-1)

    def encode_queries(self, queries: list[str]) -> torch.Tensor:
        return self._embed(queries)

    def encode_passages(self, passages: list[str]) -> torch.Tensor:
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


def batch_loss(scorer: nn.Module, batch: list[Example], world: World, teacher: dict | None,
               margin_mse_weight: float) -> tuple[torch.Tensor, dict]:
    """This rank's loss on its share of the global ``batch`` (all of it in one process), and
    the record of the whole batch's losses."""
    per_rank = len(batch) // world.size
    mine = range(world.rank * per_rank, (world.rank + 1) * per_rank)
    share = [batch[i] for i in mine]
    group = 1 + len(share[0].negatives)
    passages = [text for ex in share for text in (ex.positive, *ex.negatives)]
    scores = scorer([ex.query for ex in share], passages)  # [B / ranks, B * group]
    # This rank's queries own the positives at their places in the global batch.
    own_positions = torch.tensor(list(mine), device=scores.device) * group
    loss = F.cross_entropy(scores, own_positions)
    record = {"cross_entropy": _global_mean(world, loss)}
    if teacher is not None:
        own = scores.gather(1, own_positions.unsqueeze(1) + torch.arange(group, device=scores.device))
        t = torch.tensor([[teacher.get((ex.query_id, d), 0.0) for d in (ex.positive_id, *ex.negative_ids)]
                          for ex in share], device=scores.device)
        mse = margin_mse(own[:, 0], own[:, 1:], t[:, 0], t[:, 1:])
        loss = loss + margin_mse_weight * mse
        record["margin_mse"] = _global_mean(world, mse)
    return loss, record


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
                    world: World | None = None) -> RetrievalTrainResult:
    """Train (or resume) ``config`` into ``output``; ``on_step`` sees each step's record.

    Under torchrun each rank takes an equal share of every batch (``batch_size`` must divide
    by the number of ranks) and the model is wrapped in DistributedDataParallel; only rank 0
    writes checkpoints, the others read ``output`` to resume (a shared folder across nodes).

    On a GPU that supports bfloat16 the forward passes run under bfloat16 autocast (weights
    and optimizer stay float32). Like the device itself, this is not part of the recipe's
    fingerprint; the state file records it.
    """
    from torch.nn.parallel import DistributedDataParallel
    from transformers import get_linear_schedule_with_warmup

    world = world or current_world()
    if config.batch_size % world.size:
        raise UserError(f"batch_size {config.batch_size} does not split evenly over {world.size} processes")

    data = read_beir_folder(data_root / config.dataset, config.split)
    teacher = read_teacher_scores(Path(config.teacher_scores)) if config.teacher_scores else None
    examples = mine_examples(data, config.miner, config.negatives, seed=config.seed, encoder=encoder_for_mining)
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
    module = trainee.model.to(device)
    module.train()
    scorer = _BatchScorer(trainee, world)
    if world.distributed:
        # The backbone's pooler takes no part in the loss: its parameters get no gradient.
        scorer = DistributedDataParallel(scorer, device_ids=[torch.device(device).index] if device.startswith("cuda") else None,
                                         find_unused_parameters=True)
    optimizer = torch.optim.AdamW(trainee.parameter_groups(config))
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, config.max_steps)
    start = 0
    if resume:
        load_optimizer_state(output, optimizer, scheduler)
        start = int(state["step"])
    else:
        state = {"config": json.loads(json.dumps(config.to_dict())), "examples": len(examples), "step": 0, "history": []}

    bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    state["autocast"] = "bfloat16" if bf16 else None
    progress = tqdm(total=config.max_steps, initial=start, desc=f"Training {config.name}", unit="step",
                    disable=not world.is_main)
    started = time.perf_counter()
    for step, indices in epoch_batches(len(examples), config.batch_size, config.seed, start):
        if step >= config.max_steps:
            break
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=bf16):
            loss, record = batch_loss(scorer, [examples[i] for i in indices], world, teacher, config.margin_mse_weight)
        optimizer_step(loss, optimizer, scheduler)
        record.update(step=step + 1, loss=_global_mean(world, loss), elapsed_s=round(time.perf_counter() - started, 2))
        if record_step(state, record, progress, on_step, config.save_every, config.max_steps):
            def extra(folder: Path, state=state) -> None:
                save_optimizer_state(folder, optimizer, scheduler)
                atomic.write_json(folder / STATE_DIR / "state.json", state)

            if world.is_main:
                trainee.save(output, extra)
            barrier(world)
            module.train()
    progress.close()
    return RetrievalTrainResult(output, state["step"], state["history"], start)
