"""q-net scoring throughput (query-passage scores per second) on the CPU: the exhaustive
engine (chunks shared out to one worker thread per core) vs the same engine with one
worker and torch's own threads inside each product (its design before) vs a
one-query-at-a-time loop of the reference algorithm (each query's q-net over all passages
at once, then top-k) vs plain batched matmuls of the same shapes (the GEMM ceiling: the
q-net's matrix products alone, no activation, norm or top-k, timed at several chunk sizes
and the fastest taken). d = 384, 6-layer q-net, 50k passages, 16 queries, random weights,
float32.

Everything is timed twice in one run: on the machine as it is ("quiet"), then with a
competing CPU-bound process started by the benchmark ("loaded": one Python process
spinning on one core, as a neighbour on a shared machine would).
Writes benchmarks/results/qnet_throughput.json.

    python benchmarks/qnet_throughput.py [--passages 50000] [--queries 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

from report_header import report_header
from hyperret_eval.core import atomic
from hyperret_eval.models.hypencoder import QNets, QNetShape
from hyperret_eval.search import ExhaustiveSearch
from hyperret_eval.search.exhaustive import one_intra_op_thread


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


def gemm_chunk(qnets: QNets, activations: torch.Tensor, rows: int) -> None:
    """The q-nets' matrix products alone (no bias, activation, norm or top-k) for one chunk
    of ``rows`` passages."""
    for weight in qnets.weights:
        torch.bmm(activations[:, :rows, : weight.shape[1]], weight)


def gemm_pass(qnets: QNets, activations: torch.Tensor, passages: int, workers: int) -> None:
    """:func:`gemm_chunk` over ``passages`` passages, ``activations.shape[1]`` at a time:
    the work the GEMM ceiling times. One worker: torch's threads inside each product; more:
    chunks shared out to that many threads with one torch thread each, as the engine does."""
    chunk = activations.shape[1]
    rows = [min(chunk, passages - start) for start in range(0, passages, chunk)]
    if workers == 1:
        for count in rows:
            gemm_chunk(qnets, activations, count)
        return
    with one_intra_op_thread(), ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda count: gemm_chunk(qnets, activations, count), rows))


def gemm_seconds_by_chunk(qnets: QNets, passages: int, chunks: tuple[int, ...], repeats: int,
                          synchronize: Callable[[], None] = lambda: None,
                          workers: tuple[int, ...] = (1,)) -> dict[str, float]:
    """Best time of :func:`gemm_pass` at each chunk size and worker count (keys
    ``"<chunk>"`` or ``"<chunk>x<workers>"``), on the q-nets' device and dtype
    (``synchronize`` waits for a GPU's queued work); the fastest is the GEMM ceiling."""
    first = qnets.weights[0]
    width = max(weight.shape[1] for weight in qnets.weights)
    seconds = {}
    for chunk in chunks:
        activations = torch.randn(len(qnets), chunk, width, device=first.device, dtype=first.dtype)
        for count in workers:
            key = str(chunk) if count == 1 else f"{chunk}x{count}"
            seconds[key] = best_time(lambda: (gemm_pass(qnets, activations, passages, count), synchronize()), repeats)
    return seconds


@contextmanager
def competing_process() -> Iterator[None]:
    """A CPU-bound neighbour: one Python process spinning until the block ends."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


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

    def engine(workers: int | None) -> Callable[[], None]:
        return lambda: ExhaustiveSearch(passages, chunk_size=args.chunk_size, query_batch=args.queries,
                                        workers=workers).search(qnets, k)

    def reference() -> None:
        for q in range(args.queries):
            qnets.select(slice(q, q + 1)).apply(passages.unsqueeze(0))[0].topk(k)

    contenders = (("engine", engine(None)), ("engine_one_worker", engine(1)), ("reference_loop", reference))
    pairs = args.queries * args.passages
    conditions = {}
    for condition, context in (("quiet", nullcontext), ("loaded", competing_process)):
        with context():
            gemm_by_chunk = gemm_seconds_by_chunk(qnets, args.passages, GEMM_CHUNKS, args.repeats,
                                                  workers=(1, torch.get_num_threads()))
            timings = {name: best_time(fn, args.repeats) for name, fn in contenders}
        timings["gemm_ceiling"] = min(gemm_by_chunk.values())
        throughput = {name: pairs / seconds for name, seconds in timings.items()}
        conditions[condition] = {
            "seconds": timings,
            "gemm_seconds_by_chunk": gemm_by_chunk,
            "scores_per_second": throughput,
            "engine_over_reference": throughput["engine"] / throughput["reference_loop"],
            "one_worker_over_reference": throughput["engine_one_worker"] / throughput["reference_loop"],
            "engine_share_of_gemm_ceiling": throughput["engine"] / throughput["gemm_ceiling"],
        }
    report = {
        **report_header("qnet_throughput"),
        "settings": {**vars(args), "vector_dimensions": list(dims), "top_k": k, "dtype": "float32", "device": "cpu",
                     "engine_chunk_size": ExhaustiveSearch(passages[:1], chunk_size=args.chunk_size).chunk_size,
                     "engine_workers": ExhaustiveSearch(passages[:1]).workers,
                     "loaded_with": "one competing CPU-bound process (python -c 'while True: pass')"},
        **conditions,
    }
    atomic.write_json(Path(args.output), report)
    for condition, measured in conditions.items():
        print(f"{condition}:")
        for name, value in measured["scores_per_second"].items():
            print(f"  {name:>17}: {value / 1e6:8.2f} M scores/s ({measured['seconds'][name]:.2f} s)")
        print(f"  engine / reference {measured['engine_over_reference']:.2f}x "
              f"(one worker: {measured['one_worker_over_reference']:.2f}x); "
              f"engine / GEMM ceiling {100 * measured['engine_share_of_gemm_ceiling']:.0f}%")


if __name__ == "__main__":
    main()
