"""Dense search over a memory-mapped corpus (the embedding cache's file): memory stays
bounded however large the corpus.

A synthetic corpus (default 2,000,000 x 384 float16, seeded, as benchmarks/memmap_search.py
writes for q-nets) is written chunk by chunk into a .npy memmap in a temporary folder,
evicted from the page cache, then searched by seeded random query vectors through
DenseSearch over a read-only memmap tensor, with sentence-transformers' cosine similarity
(what all-MiniLM-L6-v2's mteb wrapper scores with), 16,384 passages a chunk.

Memory is sampled as in memmap_search.py: RssAnon is the memory the process owns (the
corpus's file-backed pages are not in it; the OS can drop them and read them again),
RssFile the pages of mapped files resident now; VmHWM, the kernel's peak of resident
memory (reset before the search), counts both. The first query's top 5 are checked against an exact float32 pass
over the whole array, which this benchmark (not the engine) reads in full to compare.
Writes benchmarks/results/dense_memmap_search.json.

    python benchmarks/dense_memmap_search.py [--passages 2000000] [--dim 384] [--queries 300]
                                             [--chunk-size 16384] [--work-dir /tmp]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from memmap_search import MemorySampler, status_bytes, write_corpus
from sentence_transformers.util import cos_sim

from report_header import report_header
from hyperret_eval.core import atomic
from hyperret_eval.search.dense import DenseSearch
from hyperret_eval.search.passage_cache import read_only_tensor


def exact_top(passages: torch.Tensor, query: torch.Tensor, k: int, step: int = 65536) -> list[int]:
    """The top-k ids of one query over the whole array, a slice at a time (the check)."""
    scores = torch.cat([cos_sim(query[None], passages[i : i + step].float())[0]
                        for i in range(0, len(passages), step)])
    return scores.topk(k).indices.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=2_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300, help="SciFact's test set has 300")
    parser.add_argument("--chunk-size", type=int, default=16384, help="passages scored at a time")
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", default=None, help="where the corpus file is written (default: the temp dir)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "dense_memmap_search.json"))
    args = parser.parse_args()

    queries = torch.randn(args.queries, args.dim, generator=torch.Generator().manual_seed(args.seed + 1))
    baseline_anon = status_bytes("RssAnon")
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        path = Path(work) / "passages.npy"
        started = time.perf_counter()
        write_corpus(path, args.passages, args.dim, args.seed)
        write_s = time.perf_counter() - started
        passages = read_only_tensor(path)
        array_bytes = passages.numel() * passages.element_size()
        engine = DenseSearch(passages, cos_sim, chunk_size=args.chunk_size, show_progress=True)
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM restarts here: the search's peak, not the write's
        with MemorySampler() as searching:
            started = time.perf_counter()
            scores, ids = engine.search(queries, args.top_k)
            search_s = time.perf_counter() - started
        vm_hwm_search = status_bytes("VmHWM")
        exact = exact_top(passages, queries[0], 5)
        del engine, passages

    report = {
        **report_header("dense_memmap_search"),
        "settings": {**vars(args), "storage_dtype": "float16", "compute_dtype": "float32", "similarity": "cosine"},
        "array_bytes": array_bytes,
        "seconds": {"write": write_s, "search": search_s},
        "scores_per_second": args.queries * args.passages / search_s,
        "memory_bytes": {
            "rss_anon_before": baseline_anon,
            "rss_anon_peak_searching": searching.peak_anon,
            "rss_file_peak_searching": searching.peak_file,
            "vm_hwm_after_search": vm_hwm_search,
        },
        "search_anon_growth_over_array": (searching.peak_anon - baseline_anon) / array_bytes,
        "top_ids_first_query": ids[0, :5].tolist(),
        "top_scores_first_query": scores[0, :5].tolist(),
        "exact_top_ids_first_query": exact,
        "matches_exact": ids[0, :5].tolist() == exact,
    }
    atomic.write_json(Path(args.output), report)
    memory = report["memory_bytes"]
    print(f"array {array_bytes / 2**30:.2f} GiB; search {search_s:.1f} s for {args.queries} queries; RssAnon peak "
          f"while searching {memory['rss_anon_peak_searching'] / 2**20:.0f} MiB (before: {baseline_anon / 2**20:.0f} "
          f"MiB); RssFile peak {memory['rss_file_peak_searching'] / 2**20:.0f} MiB; top 5 exact: "
          f"{report['matches_exact']}")


if __name__ == "__main__":
    main()
