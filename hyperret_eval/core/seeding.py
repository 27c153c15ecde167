"""One seed for every random number generator a run draws from: Python's, numpy's and torch's
(dropout, initialisation). Evaluation and training both start from it. numpy and torch are
imported when seeding, so that recipes can check a seed without loading torch."""

from __future__ import annotations

import random

from hyperret_eval.core.errors import UserError

MAX_SEED = 2 ** 32 - 1  # numpy's generator takes seeds in [0, 2**32)


def check_seed(seed: object, what: str = "the seed") -> int:
    """``seed`` if every generator takes it (an integer from 0 to :data:`MAX_SEED`), else a UserError naming ``what``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"{what} must be an integer from 0 to {MAX_SEED}, found {seed!r}")
    return seed


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
