"""Trained checkpoints on demand: where a recipe's checkpoint lives, whether it is
complete, and training it (once, under a lock) when it is not.

A checkpoint is named by a fingerprint of the recipe's settings and of the content of the
training data files it reads, so the same recipe on other data is another checkpoint. It is
reused only when complete and trained by the training code this process runs (else it is
trained again: other code may give other weights)::

    <cache>/checkpoints/<name>/<fingerprint>/       the model, with training/state.json and
                                                    training/identity.json (name, fingerprint, model digest)
    <cache>/checkpoints/<name>/<fingerprint>.log    each training session: config, data, loss per step, time
    <cache>/checkpoints/<name>/<fingerprint>.lock   held while a process checks and trains it
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hyperret_eval.catalogue.recipes import supports_data_parallel, train_recipe
from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.locks import exclusive_lock
from hyperret_eval.core.paths import CACHE_ENV, default_cache_root
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.core.provenance import data_fingerprint, model_sha256
from hyperret_eval.core.world import World, current_world
from hyperret_eval.models.recipe import Recipe
from hyperret_eval.models.training_state import STATE_DIR, steps_done, trained_by_this_code

IDENTITY_FILE = "identity.json"  # in the checkpoint's training/ folder


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint one recipe trains on one set of training data."""

    config: Recipe
    data_root: Path | None
    training_data: dict  # {"revision": ..., "files_sha256": {file: sha256}}
    fingerprint: str

    @property
    def path(self) -> Path:
        return default_cache_root() / "checkpoints" / self.config.name / self.fingerprint

    @property
    def log_path(self) -> Path:
        return self.path.with_name(f"{self.fingerprint}.log")

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(f"{self.fingerprint}.lock")

    def steps_done(self) -> int:
        return steps_done(self.path)

    def is_complete(self) -> bool:
        return self.steps_done() == self.config.max_steps

    def is_current(self) -> bool:
        """Complete, and trained by this process's training code."""
        return self.is_complete() and trained_by_this_code(self.path)

    def record_identity(self) -> None:
        """Write which checkpoint the folder is, with the digest of the model it holds, so
        that the folder named by its path is the same model as the recipe named by its name
        (:func:`checkpoint_identity`)."""
        atomic.write_json(self.path / STATE_DIR / IDENTITY_FILE,
                          {"name": self.config.name, "fingerprint": self.fingerprint,
                           "model_sha256": model_sha256(self.path)})

    def provenance(self) -> dict:
        """What a result file records of the checkpoint behind it."""
        return {"fingerprint": self.fingerprint, "recipe": self.config.to_dict(),
                "training_data": self.training_data, "path": str(self.path)}


def checkpoint_identity(folder: Path) -> tuple[str, str] | None:
    """(recipe name, fingerprint) of a checkpoint folder our cache trained, when the model it
    holds is still the one recorded; None for any other folder, or one changed since."""
    path = Path(folder) / STATE_DIR / IDENTITY_FILE
    if not path.is_file():
        return None
    identity = read_json(path, "checkpoint identity")
    if not isinstance(identity, dict) or not all(isinstance(identity.get(k), str)
                                                  for k in ("name", "fingerprint", "model_sha256")):
        raise UserError(f"{path}: not a checkpoint identity this project wrote (name, fingerprint, model_sha256)")
    if identity["model_sha256"] != model_sha256(folder):
        return None
    return identity["name"], identity["fingerprint"]


def locate_checkpoint(config: Recipe, data_root: Path | None) -> Checkpoint:
    """The checkpoint of ``config`` trained on the data under ``data_root``.

    Hashes the training data files (they must exist). The fingerprint covers every setting
    and each file's content, not where the data root is, so a copy of the data elsewhere
    names the same checkpoint.
    """
    files = config.training_files(data_root)
    files_sha256, revision = data_fingerprint(files, data_root or Path.cwd())
    canonical = json.dumps({"recipe": config.to_dict(), "training_data": list(files_sha256.values())},
                           sort_keys=True, separators=(",", ":"))
    return Checkpoint(config=config, data_root=data_root,
                      training_data={"revision": revision, "files_sha256": files_sha256},
                      fingerprint=hashlib.sha256(canonical.encode()).hexdigest()[:12])


def train_command(model_key: str, checkpoint: Checkpoint) -> str:
    parts = ["hyperret-eval", "train", model_key]
    if checkpoint.data_root is not None:
        parts += ["--data-root", str(checkpoint.data_root)]
    return shlex.join(parts)


def ensure_checkpoint(checkpoint: Checkpoint, model_key: str, device: str, *, retrain: bool = False,
                      train_missing: bool = True, announce: Callable[[str], None] = print) -> None:
    """Make ``checkpoint`` complete: reuse it, resume it, or with ``retrain`` train it anew.

    With ``train_missing`` false an incomplete checkpoint is a :class:`UserError` instead.
    The check and the training happen under an exclusive lock, so two processes asking for
    the same checkpoint train it once: the second waits, then reuses it.
    """
    if not train_missing:
        if not checkpoint.is_complete():
            raise UserError(missing_checkpoint_message(checkpoint, model_key))
        if not trained_by_this_code(checkpoint.path):  # evaluated as it is, as --no-train asks; said
            announce(f"Checkpoint {checkpoint.path} was trained by other training code than this version's; "
                     f"evaluating it as it is (`{train_command(model_key, checkpoint)}` trains it again)")
        return
    atomic.check_writable_folder(checkpoint.path.parent, f"{CACHE_ENV}, the cache of trained checkpoints")
    world = current_world()
    if world.distributed:
        _ensure_together(checkpoint, world, device, retrain, announce)
        return
    with _checkpoint_lock(checkpoint, announce):
        atomic.recover(checkpoint.path)  # a save killed mid-swap leaves the last checkpoint beside it
        if checkpoint.is_current() and not retrain:
            announce(f"Reusing checkpoint {checkpoint.path}")
        else:
            _train(checkpoint, device, from_scratch=retrain or _stale(checkpoint, announce), announce=announce)
        checkpoint.record_identity()


def _stale(checkpoint: Checkpoint, announce: Callable[[str], None]) -> bool:
    """Whether a complete checkpoint was trained by other training code (then it is trained
    again from scratch, saying so)."""
    if not checkpoint.is_complete():
        return False
    announce(f"Checkpoint {checkpoint.path} was trained by other training code than this version's; "
             "training it again")
    return True


def _ensure_together(checkpoint: Checkpoint, world: World, device: str, retrain: bool,
                     announce: Callable[[str], None]) -> None:
    """:func:`ensure_checkpoint` for the ranks of one torchrun job, which train together
    (DistributedDataParallel). Every rank decides before any writes; rank 0 alone writes,
    the way a single process would; the others train beside it, reading the checkpoint
    folder only to resume (a folder every node sees)."""
    from hyperret_eval.core.distributed import barrier  # torch, needed under torchrun only

    current = checkpoint.is_current()
    retrain = retrain or (checkpoint.is_complete() and not current)
    barrier(world)
    if current and not retrain:
        announce(f"Reusing checkpoint {checkpoint.path}")
        if world.is_main:
            checkpoint.record_identity()
        return
    if world.is_main:
        with _checkpoint_lock(checkpoint, announce):
            _train(checkpoint, device, from_scratch=retrain, announce=announce)
            checkpoint.record_identity()
    elif not supports_data_parallel(checkpoint.config):
        pass  # rank 0 trains alone (HiCL's loop has no DDP); the others wait below
    elif retrain or checkpoint.steps_done() == 0:
        with tempfile.TemporaryDirectory(prefix="hyperret-rank-") as scratch:  # never written
            train_recipe(checkpoint.config, Path(scratch) / "model", checkpoint.data_root, device)
    else:
        train_recipe(checkpoint.config, checkpoint.path, checkpoint.data_root, device)
    barrier(world)


def _checkpoint_lock(checkpoint: Checkpoint, announce: Callable[[str], None]):
    waiting = f"Waiting for another process training the same checkpoint (lock {checkpoint.lock_path})"
    return exclusive_lock(checkpoint.lock_path, on_wait=lambda: announce(waiting))


def missing_checkpoint_message(checkpoint: Checkpoint, model_key: str) -> str:
    done = checkpoint.steps_done()
    partial = f"; it holds {done} of {checkpoint.config.max_steps} steps" if done else ""
    return (f"Model {model_key!r} has no complete trained checkpoint (looked for {checkpoint.path}{partial}). "
            f"Train it with `{train_command(model_key, checkpoint)}`, or let `hyperret-eval run` train it "
            "(without --no-train).")


def _train(checkpoint: Checkpoint, device: str, from_scratch: bool, announce: Callable[[str], None]) -> None:
    """Train into the checkpoint folder (resuming it), or from scratch into a fresh folder
    swapped in when finished, so the old checkpoint stays whole until then."""
    config, data_root = checkpoint.config, checkpoint.data_root
    done = 0 if from_scratch else checkpoint.steps_done()
    how = "from scratch" if done == 0 else f"resuming from step {done}"
    announce(f"Training {config.name} ({how}, {config.max_steps} steps) into {checkpoint.path}; "
             f"log: {checkpoint.log_path}")
    with TrainingLog(checkpoint, device, how) as log:
        if from_scratch:
            atomic.write_directory(checkpoint.path,
                                   lambda staging: train_recipe(config, staging, data_root, device, on_step=log.step))
        else:
            train_recipe(config, checkpoint.path, data_root, device, on_step=log.step)
    announce(f"Trained {config.name} in {log.elapsed_s:.1f} s")


class TrainingLog:
    """The log file beside a checkpoint; each training session appends its config, training
    data, one line per step and how long it took (or what stopped it)."""

    def __init__(self, checkpoint: Checkpoint, device: str, how: str) -> None:
        self.checkpoint = checkpoint
        self.header = f"training {checkpoint.config.name} {how} on {device} (pid {os.getpid()})"
        self.elapsed_s = 0.0

    def __enter__(self) -> TrainingLog:
        self.checkpoint.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.checkpoint.log_path, "a", encoding="utf-8", buffering=1)
        self.started = time.perf_counter()
        self._write(f"=== {datetime.now(timezone.utc).isoformat()} {self.header}")
        self._write(f"checkpoint: {self.checkpoint.path}")
        self._write(f"config: {json.dumps(self.checkpoint.config.to_dict(), sort_keys=True)}")
        self._write(f"training data: {json.dumps(self.checkpoint.training_data, sort_keys=True)}")
        return self

    def step(self, record: dict) -> None:
        details = " ".join(f"{key}={value}" for key, value in record.items() if key != "step")
        self._write(f"step {record['step']}/{self.checkpoint.config.max_steps} {details}")

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.elapsed_s = time.perf_counter() - self.started
        outcome = "finished" if exc_type is None else f"stopped by {exc_type.__name__}"
        self._write(f"{outcome} after {self.elapsed_s:.1f} s")
        self.handle.close()

    def _write(self, line: str) -> None:
        self.handle.write(line + "\n")
