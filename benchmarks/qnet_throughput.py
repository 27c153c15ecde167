"""q-net scoring throughput (query-passage scores per second) on the CPU: the exhaustive
engine vs a one-query-at-a-time loop of the reference algorithm (each query's q-net over
all passages at once, then top-k) vs plain batched matmuls of the same shapes (the GEMM
ceiling: the q-net's matrix products alone, no activation, norm or top-k, timed at several
chunk sizes and the fastest taken). d = 384, 6-layer q-net, 50k passages, 16 queries,
random weights, float32.
Writes benchmarks/results/qnet_throughput.json.

    python benchmarks/qnet_throughput.py [--passages 50000] [--queries 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from hyperret_eval.core import atomic
from hyperret_eval.core.provenance import package_versions
from hyperret_eval.models.hypencoder import QNets, QNetShape
from hyperret_eval.search import ExhaustiveSearch


GEMM_CHUNKS = (256, 1024, 4096)


def random_qnets(queries: int, dims: tuple[int, ...]) -> QNets:
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(queries, i, o, generator=g) / i**0.5 for i, o in zip(dims[:-1], dims[1:])]
    biases = [torch.randn(queries, h, generator=g) * 0.1 for h in dims[1:-1]]
    return QNets(weights, biases, QNetShape(vector_dimensions=dims))


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def gemm_pass(qnets: QNets, activations: torch.Tensor, passages: int) -> None:
    """The q-nets' matrix products alone (no bias, activation, norm or top-k) for ``passages``
    passages, ``activations.shape[1]`` at a time: the work the GEMM ceiling times."""
    chunk = activations.shape[1]
    for start in range(0, passages, chunk):
        rows = min(chunk, passages - start)
        for weight in qnets.weights:
            torch.bmm(activations[:, :rows, : weight.shape[1]], weight)


def gemm_seconds_by_chunk(qnets: QNets, passages: int, chunks: tuple[int, ...], repeats: int,
                          synchronize: Callable[[], None] = lambda: None) -> dict[int, float]:
    """Best time of :func:`gemm_pass` at each chunk size, on the q-nets' device and dtype
    (``synchronize`` waits for a GPU's queued work); the fastest is the GEMM ceiling."""
    first = qnets.weights[0]
    width = max(weight.shape[1] for weight in qnets.weights)
    seconds = {}
    for chunk in chunks:
        activations = torch.randn(len(qnets), chunk, width, device=first.device, dtype=first.dtype)
        seconds[chunk] = best_time(lambda: (gemm_pass(qnets, activations, passages), synchronize()), repeats)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=16)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--chunk-size", type=int, default=None, help="engine chunk (default: its CPU default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "qnet_throughput.json"))
    args = parser.parse_args()

    torch.manual_seed(0)
    dims = (args.dim,) * (args.layers + 1) + (1,)
    passages = torch.randn(args.passages, args.dim)
    qnets = random_qnets(args.queries, dims)
    k = 100

    def engine() -> None:
        ExhaustiveSearch(passages, chunk_size=args.chunk_size, query_batch=args.queries).search(qnets, k)

    def reference() -> None:
        for q in range(args.queries):
            qnets.select(slice(q, q + 1)).apply(passages.unsqueeze(0))[0].topk(k)

    gemm_by_chunk = gemm_seconds_by_chunk(qnets, args.passages, GEMM_CHUNKS, args.repeats)
    timings = {name: best_time(fn, args.repeats) for name, fn in (("engine", engine), ("reference_loop", reference))}
    timings["gemm_ceiling"] = min(gemm_by_chunk.values())
    pairs = args.queries * args.passages
    throughput = {name: pairs / seconds for name, seconds in timings.items()}
    report = {
        "benchmark": "qnet_throughput",
        "command": " ".join(["python", *sys.argv]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch_threads": torch.get_num_threads()},
        "packages": package_versions(),
        "settings": {**vars(args), "vector_dimensions": list(dims), "top_k": k, "dtype": "float32", "device": "cpu",
                     "engine_chunk_size": ExhaustiveSearch(passages[:1], chunk_size=args.chunk_size).chunk_size},
        "seconds": timings,
        "gemm_seconds_by_chunk": gemm_by_chunk,
        "scores_per_second": throughput,
        "engine_over_reference": throughput["engine"] / throughput["reference_loop"],
        "engine_share_of_gemm_ceiling": throughput["engine"] / throughput["gemm_ceiling"],
    }
    atomic.write_json(Path(args.output), report)
    for name, value in throughput.items():
        print(f"{name:>15}: {value / 1e6:8.2f} M scores/s ({timings[name]:.2f} s)")
    print(f"engine / reference {report['engine_over_reference']:.2f}x; "
          f"engine / GEMM ceiling {100 * report['engine_share_of_gemm_ceiling']:.0f}%")


if __name__ == "__main__":
    main()
