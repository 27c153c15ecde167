"""MS MARCO's size on one machine: 1M, 4M and 8,841,823 passages x 768 in a float16 passage
store on disk, searched by 6-layer q-nets (the shape of the released hypencoder.6_layer)
exhaustively and with the paper's efficient search at its published settings.

Per size, in one process (so that its peak resident memory is its own), the JSON rewritten
after each step so that a run cut short keeps what it measured:

1. the store is written through ``passage_store`` (resumable, memory-mapped; the write
   rate is passages per second of generating and writing, as an encoder's output would
   be written), then dropped from the page cache;
2. exhaustive search in float32 is timed on a slice (``--slice`` passages, 4 queries) and
   extrapolated to the corpus: float32 over 8.8M is many minutes a query on this CPU;
3. ground truth for ``--queries`` queries: exhaustive search over the whole store in
   bfloat16 (4x faster than float32 here, on the CPU's AMX units), its top 100 re-scored in
   float32, the float32 top 10 kept. The time of this full bfloat16 pass is the
   measured ``exhaustive_seconds_per_query`` (not extrapolated). A query's truth is
   *certified* when its float32 10th score beats the bfloat16 100th score by more than
   twice the largest bfloat16 error seen on its 100, so that no passage outside the 100
   can belong to its float32 top 10;
4. the neighbour graph (100 neighbours a passage, L2 as in the paper's code) is built out
   of core with faiss (``NeighbourGraph.build_out_of_core``) into a memmap;
5. the efficient search (``GraphSearch``) over the memory-mapped store and graph at the
   paper's two settings, 10,000 seeded entry points with 64 candidates x 16 iterations and
   328 x 20, in bfloat16 like the exhaustive time it is compared with: seconds per query,
   recall@10 against the float32 truth, and the share of the corpus it scored.

What synthetic vectors can show: the memory, disk and time each step takes at the real
shape (they depend on N, d, the q-net and the settings, not on what the vectors mean), and
that the search machinery finds a q-net's top 10 in a corpus with cluster structure.
What they cannot show: the recall a real Hypencoder reaches on real MS MARCO passages,
which depends on how its q-nets' scores vary across the real passages' neighbourhoods;
the vectors here are Gaussian clusters around a 16-dimensional curved manifold and the
q-nets random. Peak memory: ``peak_rss_bytes`` is the kernel's peak resident set
(VmHWM), which counts the mapped pages of the store and graph that happened to be resident
(the kernel drops them under pressure); ``peak_rss_anon_bytes`` is the memory the process
owns and cannot give back.

    nice -n 10 python benchmarks/msmarco_scale.py --passages 1000000 --queries 8 --work-dir /work/bench-26
    nice -n 10 python benchmarks/msmarco_scale.py --passages 8841823 --queries 4 --work-dir /work/bench-26
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

import torch

from graph_search import ndcg_against_exhaustive, overlap_at_10
from memmap_search import MemorySampler, status_bytes
from qnet_throughput import random_qnets
from report_header import report_header
from hyperret_eval.core import atomic
from hyperret_eval.models.hypencoder import QNets
from hyperret_eval.search import ExhaustiveSearch, GraphSearch, NeighbourGraph
from hyperret_eval.search.passage_cache import passage_store

HERE = Path(__file__).parent
MSMARCO_PASSAGES = 8_841_823
DIM = 768
QNET_DIMS = (DIM,) * 7 + (1,)  # hypencoder.6_layer: six 768 x 768 hidden layers, then 768 -> 1
PAPER_SETTINGS = [  # (entry points, ncandidates, max_iter), the paper's two efficient settings
    (10_000, 64, 16),
    (10_000, 328, 20),
]
DEGREE = 100
CLUSTERS = 1024
LATENT = 16
MANIFOLD = 0.3  # within a cluster passages lie about 7 apart, clusters about 23
NOISE = 0.05
NOISE_BANK = 4096
STORE_CHUNK = 131_072
STORE_STEP = 32_768
TRUTH_CANDIDATES = 100
SLICE_QUERIES = 4


class ClusteredVectors:
    """Seeded synthetic passage vectors: one of 1,024 cluster centres, plus a point on a
    smooth curved 16-dimensional manifold shared by all clusters, plus a little noise (rows of a fixed
    bank of noise vectors: drawing 768 fresh normals a passage would make generating the
    vectors, not writing them, the store's cost). Rows ``start:stop`` depend only on the
    seed and ``start``, so a resumed store write writes the same bytes."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.seconds = 0.0  # spent generating, to tell the store's own write rate apart
        generator = torch.Generator().manual_seed(seed)
        self.centres = 0.6 * torch.randn(CLUSTERS, DIM, generator=generator)
        self.mixing = torch.randn(LATENT, DIM, generator=generator) / LATENT**0.5
        self.noise = NOISE * torch.randn(NOISE_BANK, DIM, generator=generator)

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + start)
        rows = stop - start
        cluster = torch.randint(CLUSTERS, (rows,), generator=generator)
        noise = torch.randint(NOISE_BANK, (rows,), generator=generator)
        vectors = torch.tanh(torch.randn(rows, LATENT, generator=generator) @ self.mixing).mul_(MANIFOLD)
        vectors += self.centres[cluster]
        vectors += self.noise[noise]
        vectors = vectors.half()
        self.seconds += time.perf_counter() - started
        return vectors


def drop_from_page_cache(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def write_store(folder: Path, count: int, seed: int) -> tuple[torch.Tensor, dict]:
    key = {"format": "hyperret-passage-cache/1", "passage_encoder": f"synthetic clustered vectors, seed {seed}",
           "corpus": f"synthetic-{count}x{DIM}", "dtype": "float16"}
    was_complete = (folder / "meta.json").is_file() and json.loads((folder / "meta.json").read_text())["complete"]
    vectors = ClusteredVectors(seed)
    started = time.perf_counter()
    store = passage_store(folder, key, count, vectors, step=STORE_STEP, chunk_size=STORE_CHUNK)
    seconds = time.perf_counter() - started
    drop_from_page_cache(folder / "vectors.npy")
    size = (folder / "vectors.npy").stat().st_size
    out = {"store_bytes": size, "store_dtype": "float16"}
    if not was_complete:
        out.update(store_write_seconds=round(seconds, 1), store_write_passages_per_second=round(count / seconds),
                   store_write_bytes_per_second=round(size / seconds),
                   store_generating_seconds=round(vectors.seconds, 1),
                   store_writing_passages_per_second=round(count / max(seconds - vectors.seconds, 1e-9)))
    return store, out


def exhaustive_slice(store: torch.Tensor, qnets: QNets, slice_size: int) -> dict:
    """float32 exhaustive search timed on the first ``slice_size`` passages, extrapolated
    linearly (the work is per passage; ``ExhaustiveSearch`` streams the store in chunks)."""
    engine = ExhaustiveSearch(store[:slice_size], dtype="float32", chunk_size=1024)
    nets = qnets.select(slice(0, SLICE_QUERIES))
    started = time.perf_counter()
    engine.search(nets, 10)
    seconds = time.perf_counter() - started
    per_passage = seconds / (SLICE_QUERIES * slice_size)
    return {"float32_slice": {"passages": slice_size, "queries": SLICE_QUERIES, "seconds": round(seconds, 2),
                              "scores_per_second": round(1 / per_passage)},
            "exhaustive_float32_seconds_per_query": round(per_passage * store.shape[0], 1),
            "exhaustive_float32_extrapolated": True}


def ground_truth(store: torch.Tensor, qnets: QNets) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """bfloat16 exhaustive top 100 over the whole store (timed), re-scored in float32."""
    engine = ExhaustiveSearch(store, dtype="bfloat16", chunk_size=1024, query_batch=len(qnets), show_progress=True)
    started = time.perf_counter()
    low_scores, low_ids = engine.search(qnets, TRUTH_CANDIDATES)
    seconds = time.perf_counter() - started
    truth, certified, bf16_recall = [], 0, 0.0
    for row in range(len(qnets)):
        ids = low_ids[row]
        exact = qnets.select(slice(row, row + 1)).apply(store[ids].float().unsqueeze(0))[0]
        error = float((exact - low_scores[row]).abs().max())
        order = torch.argsort(exact, descending=True, stable=True)
        truth.append(ids[order[:10]])
        certified += float(exact[order[9]]) > float(low_scores[row, -1]) + 2 * error
        bf16_recall += len(set(ids[:10].tolist()) & set(truth[-1].tolist())) / 10
    return torch.stack(truth), low_ids[:, :10], {
        "exhaustive_seconds_per_query": round(seconds / len(qnets), 2), "exhaustive_extrapolated": False,
        "exhaustive_dtype": "bfloat16", "exhaustive_queries": len(qnets),
        "truth": f"bfloat16 exhaustive top {TRUTH_CANDIDATES} re-scored in float32",
        "truth_certified_queries": certified,
        "exhaustive_bfloat16_recall_at_10": bf16_recall / len(qnets),
    }


def build_graph(store: torch.Tensor, folder: Path, probes: int) -> tuple[NeighbourGraph, dict]:
    started = time.perf_counter()
    graph = NeighbourGraph.build_out_of_core(store, folder, degree=DEGREE, metric="l2", probes=probes,
                                             show_progress=True)
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for path in folder.iterdir())
    return graph, {"graph_build_seconds": round(seconds, 1), "graph_bytes": size, "graph_degree": DEGREE,
                   "graph_method": graph.method, "graph_metric": graph.metric}


def efficient(store: torch.Tensor, graph: NeighbourGraph, qnets: QNets, truth: torch.Tensor,
              bfloat16_truth: torch.Tensor, exhaustive_seconds: float, setting: tuple[int, int, int]) -> dict:
    entry, ncandidates, max_iter = setting
    engine = GraphSearch(store, graph, entry_points=entry, ncandidates=ncandidates, max_iter=max_iter,
                         dtype="bfloat16", query_batch=len(qnets))
    started = time.perf_counter()
    _, ids = engine.search(qnets, 10)
    seconds = (time.perf_counter() - started) / len(qnets)
    row = {"entry_points": entry, "ncandidates": ncandidates, "max_iter": max_iter, "dtype": "bfloat16",
           "seconds_per_query": round(seconds, 3), "recall_at_10": overlap_at_10(ids, truth),
           "ndcg_at_10": ndcg_against_exhaustive(ids, truth),
           "recall_at_10_against_bfloat16_exhaustive": overlap_at_10(ids, bfloat16_truth),
           "speedup_over_exhaustive": round(exhaustive_seconds / seconds, 2),
           "fraction_scored": float(engine.last_scored.float().mean()) / store.shape[0]}
    print(f"  entry {entry} x {ncandidates} x {max_iter}: {seconds:.2f} s/query, recall@10 {row['recall_at_10']:.3f} "
          f"({row['recall_at_10_against_bfloat16_exhaustive']:.3f} against bfloat16 exhaustive), "
          f"{row['speedup_over_exhaustive']:.1f}x, scored {100 * row['fraction_scored']:.2f}%", flush=True)
    return row


def search_tradeoff(sizes: dict) -> list[dict]:
    """The sizes' points in the shape ``hyperret-eval publish --benchmarks`` takes."""
    points = []
    for size in sizes.values():
        corpus = f"synthetic-{size['passages']}x{DIM}"
        if "exhaustive_seconds_per_query" in size:
            points.append({"corpus": corpus, "method": "exhaustive", "settings": "all passages, bfloat16",
                           "queries_per_second": 1 / size["exhaustive_seconds_per_query"],
                           "recall_at_10": size["exhaustive_bfloat16_recall_at_10"], "ndcg_at_10": 1.0})
        for row in size.get("efficient", []):
            points.append({"corpus": corpus, "method": "graph",
                           "settings": f"l2 graph, entry {row['entry_points']}, ncandidates {row['ncandidates']}, "
                                       f"max_iter {row['max_iter']}",
                           "queries_per_second": 1 / row["seconds_per_query"], "recall_at_10": row["recall_at_10"],
                           "ndcg_at_10": row["ndcg_at_10"]})
    return points


def markdown_table(body: dict) -> str:
    """The measured sizes as the table docs/benchmarks.md and the README quote."""
    lines = ["| passages | peak RSS (anon) | store write | exhaustive s/query | graph build, size | "
             "efficient 64 x 16: s/query, recall@10, speed-up | 328 x 20: s/query, recall@10, speed-up |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for size in body["sizes"].values():
        gib = 2**30
        cells = [f"{size['passages']:,}",
                 f"{size['peak_rss_bytes'] / gib:.1f} GiB ({size['peak_rss_anon_bytes'] / gib:.1f})",
                 f"{size['store_write_passages_per_second']:,}/s" if "store_write_passages_per_second" in size else "-"]
        if "exhaustive_seconds_per_query" in size:
            cells.append(f"{size['exhaustive_seconds_per_query']:.0f} bf16 (measured); "
                         f"{size['exhaustive_float32_seconds_per_query']:.0f} fp32 (extrapolated)")
        else:
            cells.append("-")
        cells.append(f"{size['graph_build_seconds'] / 60:.1f} min, {size['graph_bytes'] / gib:.2f} GiB"
                     if "graph_build_seconds" in size else "-")
        rows = size.get("efficient", [])
        for setting in PAPER_SETTINGS:
            row = next((r for r in rows if (r["entry_points"], r["ncandidates"], r["max_iter"]) == setting), None)
            cells.append(f"{row['seconds_per_query']:.2f}, {row['recall_at_10']:.3f}, "
                         f"{row['speedup_over_exhaustive']:.0f}x" if row else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class Report:
    """The JSON file, shared by the runs of every size: this run's size is rewritten after
    each step, the others are read back from the file each time and kept as they are (so
    runs of several sizes may write it side by side)."""

    def __init__(self, path: Path, passages: int, header: dict) -> None:
        self.path = path
        self.size = read_report(path)["sizes"].get(str(passages), {})
        self.size.update(passages=passages, run=header, finished=False)

    def update(self, memory: MemorySampler, **values) -> None:
        self.size.update(values)
        self.size.update(peak_rss_bytes=status_bytes("VmHWM"), peak_rss_anon_bytes=memory.peak_anon,
                         peak_rss_file_bytes=memory.peak_file)
        write_sizes(self.path, {str(self.size["passages"]): self.size})


def read_report(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {"benchmark": "msmarco_scale", "sizes": {}}


def write_sizes(path: Path, sizes: dict) -> None:
    """Put ``sizes`` into the report at ``path`` beside the sizes it holds already."""
    body = read_report(path)
    merged = {**body["sizes"], **sizes}
    body["sizes"] = dict(sorted(merged.items(), key=lambda item: int(item[0])))
    body["search_tradeoff"] = search_tradeoff(body["sizes"])
    atomic.write_json(path, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=MSMARCO_PASSAGES)
    parser.add_argument("--queries", type=int, default=4, help="queries with exhaustive ground truth")
    parser.add_argument("--slice", type=int, default=65_536, help="passages the float32 exhaustive time is taken on")
    parser.add_argument("--probes", type=int, default=2, help="IVF cells searched per passage for its neighbours")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (exhaustive search workers)")
    parser.add_argument("--faiss-threads", type=int, default=1,
                        help="faiss's OpenMP threads (on a shared machine one thread trained 4x faster than two)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, help="where the store and graph are written (required to run)")
    parser.add_argument("--keep", action="store_true", help="keep the store and graph (default: delete them)")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "msmarco_scale.json")
    parser.add_argument("--table", action="store_true", help="print the table of the sizes in --output and stop")
    parser.add_argument("--merge", type=Path, help="copy the sizes of this report into --output and stop")
    args = parser.parse_args()
    if args.merge:
        write_sizes(args.output, read_report(args.merge)["sizes"])
        return
    if args.table:
        print(markdown_table(json.loads(args.output.read_text())))
        return
    if args.work_dir is None:
        parser.error("--work-dir is required")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")  # the cost estimates
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.faiss_threads)
    header = {**report_header("msmarco_scale", packages=("faiss-cpu",)),
              "settings": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                           "qnet_dims": list(QNET_DIMS), "clusters": CLUSTERS, "latent": LATENT,
                           "niceness": os.nice(0)}}
    report = Report(args.output, args.passages, header)
    work = args.work_dir / f"msmarco-scale-{args.passages}"
    qnets = random_qnets(args.queries, QNET_DIMS)
    with MemorySampler(interval=0.2) as memory:
        print(f"{args.passages:,} passages: writing the store", flush=True)
        store, written = write_store(work / "store", args.passages, args.seed)
        report.update(memory, **written)
        print(f"  {written}\n  float32 exhaustive on a slice", flush=True)
        report.update(memory, **exhaustive_slice(store, qnets, min(args.slice, args.passages)))
        print(f"  {report.size['float32_slice']}\n  bfloat16 exhaustive ground truth, {args.queries} queries",
              flush=True)
        truth, bfloat16_truth, measured = ground_truth(store, qnets)
        report.update(memory, **measured)
        print(f"  {measured}\n  building the neighbour graph", flush=True)
        graph, built = build_graph(store, work / "graph", args.probes)
        report.update(memory, **built)
        print(f"  {built}", flush=True)
        rows = []
        for setting in PAPER_SETTINGS:
            rows.append(efficient(store, graph, qnets, truth, bfloat16_truth, report.size["exhaustive_seconds_per_query"],
                                  setting))
            report.update(memory, efficient=rows)
    report.update(memory, finished=True)
    if not args.keep:
        del store, graph
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
