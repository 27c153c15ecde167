"""One seed for every random number generator a run draws from: Python's, numpy's and torch's
(dropout, initialisation). Evaluation and training both start from it."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
