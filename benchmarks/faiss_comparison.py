"""The comparison a user makes before choosing a Hypencoder: the bi-encoder baseline (BE)
searched with faiss against the Hypencoder's exhaustive and graph search, on the same
data and machine, in one run.

Per method: build time, queries per second (search alone, all queries in one batch, the
way an offline evaluation searches), the memory its search structures hold, recall@10
against the same model's exact ranking, and on SciFact the judged nDCG@10 and queries
per second including query encoding (a Hypencoder query is encoded into a q-net by the
hypernetwork, a BE query into one vector).

- BE: faiss ``IndexFlatIP`` (exact), and ``IndexHNSWFlat`` (M = 32) at the smallest
  efSearch whose recall@10 against the flat index is >= 0.95.
- Hypencoder: exhaustive q-net search, and graph search (inner-product neighbour graph)
  at the fastest setting of benchmarks/graph_search.py's sweep whose recall@10 against
  exhaustive is >= 0.95.

Corpora: SciFact (5,183 abstracts, 300 test queries) encoded by the trained ``be`` and
``hypencoder`` recipe checkpoints, and a synthetic corpus (default 100k vectors near a
16-dimensional curved manifold, d = 384) searched by BE-like query vectors and by random
q-nets shaped like the checkpoint's. faiss and torch use the same number of threads.
Writes benchmarks/results/faiss_comparison.json.

    python benchmarks/faiss_comparison.py --data-root ../shared/data [--synthetic 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import torch
from graph_search import SETTINGS, overlap_at_10, timed

from report_header import report_header
from hyperret_eval.catalogue.checkpoints import locate_checkpoint
from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.core import atomic
from hyperret_eval.data.beir import document_text, read_beir_folder
from hyperret_eval.models.hypencoder import Hypencoder, QNets
from hyperret_eval.models.sentence_model import BoundedSentenceTransformer
from hyperret_eval.search import ExhaustiveSearch, GraphSearch, NeighbourGraph
from hyperret_eval.search.passage_cache import cached_passage_vectors

HERE = Path(__file__).parent
K = 10
RECALL_GOAL = 0.95
HNSW_M = 32
EF_SEARCH = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
Judge = Callable[[torch.Tensor], float]  # top ids [Q, k] -> judged nDCG@10


def row(method: str, settings: str, build_s: float, search_s: float, queries: int, memory_bytes: int,
        ids: torch.Tensor, exact_ids: torch.Tensor, judge: Judge | None) -> dict:
    out = {"method": method, "settings": settings, "build_seconds": round(build_s, 3),
           "search_seconds": round(search_s, 4), "queries_per_second": queries / search_s,
           "memory_bytes": memory_bytes, "recall_at_10": overlap_at_10(ids, exact_ids)}
    if judge:
        out["ndcg_at_10"] = judge(ids)
    print(f"  {method:<22} {settings:<44} {out['queries_per_second']:9.1f} q/s, build {build_s:6.2f} s, "
          f"recall@10 {out['recall_at_10']:.3f}" + (f", nDCG@10 {out['ndcg_at_10']:.4f}" if judge else ""), flush=True)
    return out


def faiss_rows(passages: np.ndarray, queries: np.ndarray, judge: Judge | None) -> list[dict]:
    """BE on a flat index (the exact ranking) and on HNSW at the first efSearch reaching the goal."""
    dim = passages.shape[1]
    flat, flat_build_s = timed(lambda: _filled(faiss.IndexFlatIP(dim), passages), repeats=1)
    (_, exact), flat_s = timed(lambda: flat.search(queries, K))
    exact_ids = torch.from_numpy(exact)
    rows = [row("BE + faiss flat", "IndexFlatIP", flat_build_s, flat_s, len(queries), passages.nbytes,
                exact_ids, exact_ids, judge)]

    def hnsw_index() -> faiss.Index:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        return _filled(index, passages)

    hnsw, hnsw_build_s = timed(hnsw_index, repeats=1)
    memory = len(faiss.serialize_index(hnsw))
    for ef in EF_SEARCH:
        hnsw.hnsw.efSearch = ef
        (_, found), seconds = timed(lambda: hnsw.search(queries, K))
        candidate = row("BE + faiss HNSW", f"M {HNSW_M}, efSearch {ef}", hnsw_build_s, seconds, len(queries),
                        memory, torch.from_numpy(found), exact_ids, judge)
        if candidate["recall_at_10"] >= RECALL_GOAL:
            break
    rows.append(candidate)
    return rows


def _filled(index: faiss.Index, vectors: np.ndarray) -> faiss.Index:
    index.add(vectors)
    return index


def hypencoder_rows(passages: torch.Tensor, qnets: QNets, judge: Judge | None) -> list[dict]:
    """Exhaustive q-net search (the exact ranking) and the fastest graph setting reaching the goal."""
    engine = ExhaustiveSearch(passages)
    (_, exact_ids), exhaustive_s = timed(lambda: engine.search(qnets, K))
    vector_bytes = passages.numel() * passages.element_size()
    rows = [row("Hypencoder exhaustive", "all passages", 0.0, exhaustive_s, len(qnets), vector_bytes,
                exact_ids, exact_ids, judge)]
    graph, build_s = timed(lambda: NeighbourGraph.build(passages, metric="ip"), repeats=1)
    memory = vector_bytes + graph.neighbours.numel() * graph.neighbours.element_size()
    best = None
    for entry, ncandidates, max_iter in SETTINGS:
        search = GraphSearch(passages, graph, entry_points=entry, ncandidates=ncandidates, max_iter=max_iter)
        (_, ids), seconds = timed(lambda: search.search(qnets, K))
        recall = overlap_at_10(ids, exact_ids)
        if recall >= RECALL_GOAL and (best is None or seconds < best[1]):
            best = ((entry, ncandidates, max_iter), seconds, ids)
    if best is None:
        print(f"  no graph setting reached recall@10 {RECALL_GOAL}", flush=True)
        return rows
    (entry, ncandidates, max_iter), seconds, ids = best
    rows.append(row("Hypencoder graph", f"ip graph, entry {entry}, ncandidates {ncandidates}, max_iter {max_iter}",
                    build_s, seconds, len(qnets), memory, ids, exact_ids, judge))
    return rows


def scifact(data_root: Path, be: BoundedSentenceTransformer, hypencoder: Hypencoder) -> dict:
    import ir_measures

    data = read_beir_folder(data_root / "beir" / "scifact", "test")
    doc_ids = list(data.corpus)
    texts = [document_text(data.corpus[d]) for d in doc_ids]
    query_ids = [q for q in data.queries if q in data.qrels]
    query_texts = [data.queries[q] for q in query_ids]
    qrels = [ir_measures.Qrel(q, d, rel) for q, docs in data.qrels.items() for d, rel in docs.items()]

    def judge(ids: torch.Tensor) -> float:
        run = [ir_measures.ScoredDoc(q, doc_ids[i], float(K - rank))
               for q, found in zip(query_ids, ids.tolist()) for rank, i in enumerate(found[:K]) if i >= 0]
        return ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, run)[ir_measures.nDCG @ 10]

    print(f"SciFact: encoding {len(texts)} passages with BE and the Hypencoder (cached after the first run)", flush=True)
    be_passages = be.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
    hyp_passages = cached_passage_vectors(hypencoder, doc_ids, texts)
    be_queries, be_encode_s = timed(lambda: be.encode(query_texts, batch_size=32, convert_to_numpy=True,
                                                      normalize_embeddings=True))
    qnets, hyp_encode_s = timed(lambda: hypencoder.encode_queries(query_texts))
    encode_qps = {"be": len(query_texts) / be_encode_s, "hypencoder": len(query_texts) / hyp_encode_s}
    print(f"  query encoding: BE {encode_qps['be']:.1f} q/s, Hypencoder {encode_qps['hypencoder']:.1f} q/s", flush=True)
    rows = faiss_rows(np.ascontiguousarray(be_passages, dtype=np.float32),
                      np.ascontiguousarray(be_queries, dtype=np.float32), judge)
    rows += hypencoder_rows(hyp_passages, qnets, judge)
    for measured in rows:
        encoder = "be" if measured["method"].startswith("BE") else "hypencoder"
        seconds_per_query = 1 / encode_qps[encoder] + 1 / measured["queries_per_second"]
        measured["queries_per_second_with_encoding"] = 1 / seconds_per_query
    return {"passages": len(texts), "queries": len(query_texts), "query_encoding_per_second": encode_qps,
            "rows": rows}


def synthetic(count: int, queries: int, like: QNets) -> dict:
    """Vectors near a curved 16-dimensional manifold (as embeddings lie), unit length for
    BE's inner product; BE queries are further points of it, Hypencoder queries random q-nets."""
    generator = torch.Generator().manual_seed(0)
    dim = like.shape.vector_dimensions[0]
    lift = torch.randn(16, dim, generator=generator)

    def points(n: int) -> torch.Tensor:
        near = torch.tanh(torch.randn(n, 16, generator=generator) @ lift) + 0.05 * torch.randn(n, dim, generator=generator)
        return torch.nn.functional.normalize(near, dim=1)

    passages, be_queries = points(count), points(queries)
    dims = like.shape.vector_dimensions
    weights = [torch.randn(queries, i, o, generator=generator) / i**0.5 for i, o in zip(dims[:-1], dims[1:])]
    biases = [0.1 * torch.randn(queries, h, generator=generator) for h in dims[1:-1]]
    print(f"synthetic {count}:", flush=True)
    rows = faiss_rows(passages.numpy(), be_queries.numpy(), None)
    rows += hypencoder_rows(passages, QNets(weights, biases, like.shape), None)
    return {"passages": count, "queries": queries, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--synthetic", type=int, default=100_000, help="synthetic corpus size (0: skip it)")
    parser.add_argument("--synthetic-queries", type=int, default=64)
    parser.add_argument("--output", default=str(HERE / "results" / "faiss_comparison.json"))
    args = parser.parse_args()
    data_root = Path(args.data_root).resolve()
    faiss.omp_set_num_threads(torch.get_num_threads())
    checkpoints = {key: locate_checkpoint(NAMED_RECIPES[key].config, data_root) for key in ("be", "hypencoder")}
    for key, checkpoint in checkpoints.items():
        if not checkpoint.is_complete():
            sys.exit(f"the {key} checkpoint is not trained yet: hyperret-eval train {key} --data-root {data_root}")
    be = BoundedSentenceTransformer(str(checkpoints["be"].path), device="cpu")
    hypencoder = Hypencoder.from_pretrained(checkpoints["hypencoder"].path).eval()
    started = time.perf_counter()
    report = {
        **report_header("faiss_comparison", packages=("faiss-cpu",), faiss_threads=faiss.omp_get_max_threads()),
        "checkpoints": {key: {"fingerprint": c.fingerprint, "path": str(c.path)} for key, c in checkpoints.items()},
        "recall_goal": RECALL_GOAL,
        "corpora": {"SciFact": scifact(data_root, be, hypencoder)},
    }
    if args.synthetic:
        like = hypencoder.encode_queries(["shape only"])
        report["corpora"][f"synthetic-{args.synthetic}"] = synthetic(args.synthetic, args.synthetic_queries, like)
    report["seconds"] = round(time.perf_counter() - started, 1)
    atomic.write_json(Path(args.output), report)


if __name__ == "__main__":
    main()
