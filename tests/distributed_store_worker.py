"""Run by tests/test_out_of_core.py under torchrun: every rank searches its share of a
memory-mapped passage store exhaustively and the shares are merged; rank 0 prints the result."""

import json
import sys

from hyperret_eval.core.distributed import close_world, init_world
from hyperret_eval.search.passage_cache import read_only_tensor
from hyperret_eval.search.sharded import sharded_exhaustive_search
from tests.test_search import random_qnets

world = init_world("cpu")
store = read_only_tensor(sys.argv[1])
scores, ids = sharded_exhaustive_search(world, store, random_qnets(3, (16, 16, 16, 1)), 29, chunk_size=8)
if world.is_main:
    print(json.dumps({"scores": scores.tolist(), "ids": ids.tolist()}))
close_world()
