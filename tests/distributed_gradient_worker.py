"""Run by tests/test_distributed_training.py under torchrun (2 gloo ranks): one training
step's gradient through DistributedDataParallel, each rank holding half of the batch,
against the gradient one process computes on the whole batch (dropout off, so both see the
same function). Rank 0 prints the largest difference, per trainee kind, as JSON."""

import json
import sys

import torch
from torch.nn.parallel import DistributedDataParallel

from hyperret_eval.core.distributed import close_world, init_world
from hyperret_eval.core.world import World
from hyperret_eval.data.training_examples import Example
from hyperret_eval.models.hypencoder.config import RetrievalTrainConfig
from hyperret_eval.models.hypencoder.train import TRAINEES, _BatchScorer, batch_loss

BATCH = [
    Example("what lowers blood pressure", "Beta blockers lower blood pressure in adults.", ("Tomatoes are red.",)),
    Example("do vaccines cause autism", "Large cohort studies find no link between vaccines and autism.",
            ("Autism is diagnosed in childhood.",)),
    Example("is coffee bad for the heart", "Moderate coffee intake is not linked to heart disease.",
            ("Coffee beans are roasted seeds.",)),
    Example("how do statins work", "Statins inhibit HMG-CoA reductase and so lower cholesterol.",
            ("Cholesterol is a lipid.",)),
]


def gradient(kind: str, world: World) -> tuple[torch.Tensor, float]:
    config = RetrievalTrainConfig(model=kind, qnet_layers=1, negatives=1, batch_size=len(BATCH))
    torch.manual_seed(0)
    trainee = TRAINEES[kind](config, resume_from=None)
    trainee.model.eval()  # no dropout: the sharded and whole batches then compute the same function
    scorer = _BatchScorer(trainee, world)
    if world.distributed:
        scorer = DistributedDataParallel(scorer, find_unused_parameters=True)
    loss, record = batch_loss(scorer, BATCH, world)
    loss.backward()
    grads = [p.grad.flatten() for p in trainee.model.parameters() if p.grad is not None]
    return torch.cat(grads), record["cross_entropy"]


world = init_world("cpu")
report = {}
for kind in sys.argv[1:]:
    sharded, sharded_loss = gradient(kind, world)
    if world.is_main:
        whole, whole_loss = gradient(kind, World())
        report[kind] = {"max_abs_diff": float((sharded - whole).abs().max()), "scale": float(whole.abs().max()),
                        "loss_sharded": sharded_loss, "loss_whole": whole_loss, "size": whole.numel()}
if world.is_main:
    print(json.dumps(report))
close_world()
