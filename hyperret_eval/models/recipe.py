"""The base of every training recipe: a frozen dataclass of settings that, with the data
files it reads, names its checkpoint (see :mod:`hyperret_eval.catalogue.checkpoints`).

Imports no torch: the catalogue lists and checks recipes without loading a model."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.paths import safe_name
from hyperret_eval.core.seeding import check_seed

SCHEDULES = ("linear", "constant_with_warmup")  # transformers' learning-rate schedules of those names


class Recipe:
    """Mixin for frozen training-config dataclasses. Every setting, with the training data
    files, determines the checkpoint; the training loop reads ``name``, ``seed``,
    ``batch_size``, ``learning_rate``, ``weight_decay``, ``max_steps`` and ``save_every``."""

    name: str
    seed: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    max_steps: int
    save_every: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def training_files(self, data_root: Path | None) -> list[Path]:
        """The data files training reads (each checked to exist), so their hashes can name
        the checkpoint."""
        raise NotImplementedError

    def data_folders(self) -> tuple[str, ...]:
        """The folders under the data root whose data training reads (texts, queries,
        judgements), so a model's metadata can say which benchmarks it has seen."""
        raise NotImplementedError

    def check_common(self) -> None:
        """What every recipe must meet, called first by each recipe's ``__post_init__``:
        a name that is one folder name (it becomes ``<cache>/checkpoints/<name>``), and
        finite numbers (``learning_rate = nan`` or ``temperature = inf`` train nothing)."""
        safe_name(self.name, "recipe name")
        check_seed(self.seed, f"training config {self.name!r}: seed")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"training config {self.name!r}: {field.name} = {value} is not a finite number")
