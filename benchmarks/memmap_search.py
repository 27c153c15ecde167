"""Exhaustive q-net search over a memory-mapped corpus: memory stays bounded however large
the corpus.

A synthetic corpus (default 2,000,000 x 384 float16, seeded) is written chunk by chunk
into a .npy memmap in a temporary folder, evicted from the page cache, then searched by
a few random 2-layer q-nets through ExhaustiveSearch over a read-only memmap tensor, in
float32, 4,096 passages a chunk (the engine's CPU default of 256 suits 16 queries; for 4
queries a chunk is too little work and per-chunk overhead dominates).

A background thread samples /proc/self/status: RssAnon is the memory the process owns
(the corpus's file-backed pages are not in it; the OS can drop them and read them
again), RssFile the pages of mapped files resident now; VmHWM, the kernel's peak of
resident memory, counts both. Bounded memory means the peak RssAnon stays far below the
size of the array. Writes benchmarks/results/memmap_search.json.

    python benchmarks/memmap_search.py [--passages 2000000] [--dim 384] [--queries 4] [--chunk-size 4096]
                                       [--work-dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from report_header import report_header
from hyperret_eval.core import atomic
from hyperret_eval.models.hypencoder import QNets, QNetShape
from hyperret_eval.search import ExhaustiveSearch
from hyperret_eval.search.passage_cache import read_only_tensor

WRITE_CHUNK = 16384  # rows generated and written at a time


def status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(f"/proc/self/status has no {field}")


class MemorySampler:
    """Peaks of RssAnon and RssFile over a block, sampled every ``interval`` seconds by a
    background thread (and once at each end, so a short block is measured too)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak_anon = self.peak_file = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        self.peak_anon = max(self.peak_anon, status_bytes("RssAnon"))
        self.peak_file = max(self.peak_file, status_bytes("RssFile"))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def write_corpus(path: Path, count: int, dim: int, seed: int) -> None:
    """Seeded standard-normal float16 vectors, ``WRITE_CHUNK`` rows at a time, flushed
    and then evicted from the page cache so the search reads them from the file."""
    generator = torch.Generator().manual_seed(seed)
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(count, dim))
    for start in tqdm(range(0, count, WRITE_CHUNK), desc="Writing the corpus", unit="chunk"):
        rows = min(WRITE_CHUNK, count - start)
        array[start : start + rows] = torch.randn(rows, dim, generator=generator).half().numpy()
    array.flush()
    del array
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def random_qnets(queries: int, dims: tuple[int, ...], seed: int) -> QNets:
    generator = torch.Generator().manual_seed(seed)
    weights = [torch.randn(queries, i, o, generator=generator) / i**0.5 for i, o in zip(dims[:-1], dims[1:])]
    biases = [torch.randn(queries, h, generator=generator) * 0.1 for h in dims[1:-1]]
    return QNets(weights, biases, QNetShape(vector_dimensions=dims))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=2_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=4096, help="passages the engine scores at a time")
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", default=None, help="where the corpus file is written (default: the temp dir)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "memmap_search.json"))
    args = parser.parse_args()

    dims = (args.dim,) * 3 + (1,)  # a 2-layer q-net
    qnets = random_qnets(args.queries, dims, args.seed)
    baseline_anon = status_bytes("RssAnon")
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        path = Path(work) / "passages.npy"
        with MemorySampler() as writing:
            started = time.perf_counter()
            write_corpus(path, args.passages, args.dim, args.seed)
            write_s = time.perf_counter() - started
        passages = read_only_tensor(path)
        array_bytes = passages.numel() * passages.element_size()
        engine = ExhaustiveSearch(passages, chunk_size=args.chunk_size, dtype="float32", show_progress=True)
        with MemorySampler() as searching:
            started = time.perf_counter()
            scores, ids = engine.search(qnets, args.top_k)
            search_s = time.perf_counter() - started
        file_bytes = path.stat().st_size
        del engine, passages

    report = {
        **report_header("memmap_search"),
        "settings": {**vars(args), "vector_dimensions": list(dims), "storage_dtype": "float16",
                     "compute_dtype": "float32"},
        "array_bytes": array_bytes,
        "file_bytes": file_bytes,
        "seconds": {"write": write_s, "search": search_s},
        "scores_per_second": args.queries * args.passages / search_s,
        "memory_bytes": {
            "rss_anon_before": baseline_anon,
            "rss_anon_peak_writing": writing.peak_anon,
            "rss_anon_peak_searching": searching.peak_anon,
            "rss_file_peak_searching": searching.peak_file,
            "vm_hwm": status_bytes("VmHWM"),
        },
        "search_anon_growth_over_array": (searching.peak_anon - baseline_anon) / array_bytes,
        "search_anon_peak_over_array": searching.peak_anon / array_bytes,
        "top_scores_first_query": scores[0, :5].tolist(),
        "top_ids_first_query": ids[0, :5].tolist(),
    }
    atomic.write_json(Path(args.output), report)
    memory = report["memory_bytes"]
    print(f"array {array_bytes / 2**30:.2f} GiB; search {search_s:.1f} s; RssAnon peak while searching "
          f"{memory['rss_anon_peak_searching'] / 2**20:.0f} MiB (before: {baseline_anon / 2**20:.0f} MiB); "
          f"RssFile peak {memory['rss_file_peak_searching'] / 2**20:.0f} MiB; VmHWM {memory['vm_hwm'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
