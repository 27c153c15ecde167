"""``training/state.json`` inside a checkpoint folder: the recipe it was trained with, the
training data, the package versions, the step reached and one record per step.

The one place that knows where the file lies and what resuming requires. Imports no
torch: the catalogue asks how far a checkpoint got without loading anything."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.provenance import package_versions
from hyperret_eval.models.recipe import Recipe

STATE_DIR = "training"  # beside the model: state.json, and the optimizer, scheduler and RNG state
STATE_FILE = "state.json"


# The packages whose code decides what training produces: the models, their losses and
# loops, and the data they read. A change to any of them can change the weights.
TRAINING_CODE = ("models", "data")


@cache
def training_code_sha256() -> str:
    """sha256 of the training code this process runs (every source file of
    :data:`TRAINING_CODE`, by path and bytes): a checkpoint records it, and one trained by
    other code is trained again rather than reused."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for part in TRAINING_CODE:
        for path in sorted((package / part).rglob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def state_path(folder: Path) -> Path:
    return Path(folder) / STATE_DIR / STATE_FILE


def read_state(folder: Path) -> dict[str, Any] | None:
    """The state a checkpoint folder holds; None when it holds none."""
    path = state_path(folder)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def steps_done(folder: Path) -> int:
    state = read_state(folder)
    return 0 if state is None else int(state["step"])


def trained_by_this_code(folder: Path) -> bool:
    """Whether the checkpoint in ``folder`` was trained by the training code this process
    runs (a state that records no code digest cannot say so)."""
    state = read_state(folder)
    return state is not None and state.get("training_code") == training_code_sha256()


def _as_json(config: Recipe) -> dict[str, Any]:
    """The recipe as state.json holds it (tuples become lists), so the two compare equal."""
    return json.loads(json.dumps(config.to_dict()))


class TrainingState:
    """The state of one training run, kept in memory and written into every checkpoint."""

    def __init__(self, body: dict[str, Any], resuming: bool) -> None:
        self.body = body
        self.resuming = resuming

    @classmethod
    def begin(cls, output: Path, config: Recipe, data: dict[str, Any]) -> TrainingState:
        """The state to train ``config`` into ``output`` with: the one found there, to
        resume, or a new one (``data`` describes the training data). A folder holding
        something else, or a run of other settings, is refused."""
        found = read_state(output)
        if found is None:
            if output.exists() and any(output.iterdir()):
                raise UserError(f"{output} exists and is not a training checkpoint; choose another --output")
            body = {"config": _as_json(config), "data": data, "packages": package_versions(),
                    "training_code": training_code_sha256(), "step": 0, "history": []}
            return cls(body, resuming=False)
        if found["config"] != _as_json(config):
            raise UserError(f"{output} holds a run with a different configuration; resume it with the same "
                            "settings, or choose another --output")
        return cls(found, resuming=True)

    @property
    def step(self) -> int:
        return int(self.body["step"])

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.body["history"]

    def add(self, record: dict[str, Any]) -> None:
        """A finished step's record (with its ``step``)."""
        self.body["history"].append(record)
        self.body["step"] = record["step"]

    def write_into(self, folder: Path) -> None:
        atomic.write_json(state_path(folder), self.body)
