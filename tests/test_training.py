"""The shared training loop's state: a damaged optimizer, scheduler or RNG file is refused
with a message naming it, and no code from it runs; HiCL and Hypencoder runs keep the
same state file."""

from __future__ import annotations

import pytest

from hyperret_eval.core.errors import UserError
from tests.conftest import PicklePayload


def _optimizer_and_scheduler():
    import torch

    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([parameter])
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


@pytest.mark.parametrize("damage", ["pickle payload", "truncated", "empty"])
def test_damaged_training_state_is_refused_by_name(tmp_path, damage):
    import pickle

    import torch

    from hyperret_eval.models.training import load_optimizer_state, save_optimizer_state
    from hyperret_eval.models.training_state import STATE_DIR

    optimizer, scheduler = _optimizer_and_scheduler()
    save_optimizer_state(tmp_path, optimizer, scheduler)
    state_file, marker = tmp_path / STATE_DIR / "optimizer.pt", tmp_path / "payload-ran"
    if damage == "pickle payload":
        torch.save({"state": PicklePayload(marker)}, state_file, pickle_module=pickle)
    else:
        state_file.write_bytes(state_file.read_bytes()[: 100 if damage == "truncated" else 0])
    with pytest.raises(UserError, match=rf"{state_file}: cannot read the training state"):
        load_optimizer_state(tmp_path, *_optimizer_and_scheduler())
    assert not marker.exists(), "unpickling the training state ran code"


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    from hyperret_eval.models.hypencoder.config import RetrievalTrainConfig
    from hyperret_eval.models.training_state import TrainingState

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="exists and is not a training checkpoint"):
        TrainingState.begin(tmp_path, RetrievalTrainConfig(), data={})


@pytest.mark.slow
def test_hicl_and_hypencoder_keep_the_same_state_file(tmp_path, tiny_train_root):
    """One loop: both write the recipe, the data, the package versions, the autocast, the
    step, and per step the loss, learning rate and time."""
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES
    from hyperret_eval.models.hicl.train import train
    from hyperret_eval.models.hypencoder.config import RetrievalTrainConfig
    from hyperret_eval.models.hypencoder.train import train_retrieval
    from hyperret_eval.models.training_state import read_state

    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"sentence number {i}\n" for i in range(8)), encoding="utf-8")
    hicl = NAMED_RECIPES["hicl"].config.replace(text_file=str(texts), max_steps=1, batch_size=4, max_tokens=32,
                                                 segment_length=8)
    train(hicl, tmp_path / "hicl", None)
    train_retrieval(RetrievalTrainConfig(qnet_layers=1, batch_size=2, negatives=1, max_steps=1), tmp_path / "hyp",
                    tiny_train_root)
    states = [read_state(tmp_path / run) for run in ("hicl", "hyp")]
    for state in states:
        assert set(state) == {"config", "data", "packages", "training_code", "autocast", "step", "history"}
        assert state["step"] == 1 and {"loss", "step", "lr", "elapsed_s"} <= set(state["history"][0])
    assert states[0]["data"]["texts"] == 8 and states[1]["data"] == {"examples": 4}

