"""Passage cache: wall time of a whole BEIR-adapter search of SciFact (5,183 passages,
300 test queries, top 100) with an empty cache, then again with the same model, then
with a second model (deeper q-net, same backbone weights) that reuses the entry.

Hypencoders are built fresh on MiniLM (untrained q-nets: only time is measured here);
the cache lives in a temporary folder. Each run counts the passages the model encodes,
so reuse shows as 0. Writes benchmarks/results/passage_cache.json.

    python benchmarks/passage_cache.py --data-root ../shared/data [--qnet-layers 2] [--second-qnet-layers 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


from report_header import report_header
from hyperret_eval.core import atomic
from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.integrations.beir import HypencoderSearch
from hyperret_eval.models.hypencoder import Hypencoder


def timed_search(model: Hypencoder, cache: Path, corpus: dict, queries: dict, top_k: int) -> tuple[dict, dict]:
    """One whole adapter search; returns its run and what it cost."""
    encoded = []
    encode = model.encode_passages

    def counted(texts, batch_size=32, show_progress=False):
        encoded.append(len(texts))
        return encode(texts, batch_size, show_progress)

    model.encode_passages = counted
    try:
        started = time.perf_counter()
        run = HypencoderSearch(model, cache_dir=cache).search(corpus, queries, top_k)
        seconds = time.perf_counter() - started
    finally:
        del model.encode_passages
    return run, {"seconds": seconds, "passages_encoded": sum(encoded), "qnet": list(model.shape.vector_dimensions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--qnet-layers", type=int, default=2)
    parser.add_argument("--second-qnet-layers", type=int, default=4)
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "passage_cache.json"))
    args = parser.parse_args()

    data = read_beir_folder(Path(args.data_root) / "beir" / "scifact", "test")
    queries = {q: data.queries[q] for q in data.queries if q in data.qrels}
    first_model = Hypencoder.from_backbone("minilm", qnet_layers=args.qnet_layers).eval()
    second_model = Hypencoder.from_backbone("minilm", qnet_layers=args.second_qnet_layers).eval()
    runs = {}
    with tempfile.TemporaryDirectory() as work:
        cache = Path(work)
        first_run, runs["first_empty_cache"] = timed_search(first_model, cache, data.corpus, queries, args.top_k)
        again, runs["second_same_model"] = timed_search(first_model, cache, data.corpus, queries, args.top_k)
        _, runs["other_qnet_same_backbone"] = timed_search(second_model, cache, data.corpus, queries, args.top_k)
        entries = [p for p in cache.iterdir() if p.is_dir()]
        entry_bytes = sum(f.stat().st_size for entry in entries for f in entry.iterdir())
    for name, measured in runs.items():
        print(f"{name:>25}: {measured['seconds']:7.2f} s, {measured['passages_encoded']} passages encoded")

    report = {
        **report_header("passage_cache"),
        "settings": {**vars(args), "backbone": "minilm", "passages": len(data.corpus), "queries": len(queries),
                     "search": "exhaustive, float32", "cache_dtype": "float32"},
        "runs": runs,
        "second_over_first": runs["second_same_model"]["seconds"] / runs["first_empty_cache"]["seconds"],
        "other_qnet_over_first": runs["other_qnet_same_backbone"]["seconds"] / runs["first_empty_cache"]["seconds"],
        "second_run_identical": again == first_run,
        "cache_entries": len(entries),
        "cache_bytes": entry_bytes,
    }
    atomic.write_json(Path(args.output), report)


if __name__ == "__main__":
    main()
