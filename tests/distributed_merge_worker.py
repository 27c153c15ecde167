"""Run by tests/test_distributed.py under torchrun: each rank holds half of the columns of
a seeded score matrix, takes its own top-7, and the ranks merge; rank 0 prints the result."""

import json

import torch

from hyperret_eval.core.distributed import close_world, init_world
from hyperret_eval.search.sharded import merge_ranked

world = init_world("cpu")
scores = torch.randn(5, 40, generator=torch.Generator().manual_seed(0))
share = world.shard(40)
local, where = scores[:, share.start : share.stop].topk(7, dim=1)
best, ids = merge_ranked(world, local, where + share.start, 7)
if world.is_main:
    print(json.dumps({"scores": best.tolist(), "ids": ids.tolist()}))
close_world()
