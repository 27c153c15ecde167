"""A second run of minilm on SciFact (5,183 abstracts, 300 test queries) against the first:
the embedding cache (integrations/mteb_dense.py, over the passage cache) and mteb's own
CachedEmbeddingWrapper, side by side in one process, after one run without a cache (the
reference score: mteb's own dense search).

Each run is one ``mteb.evaluate`` of the packaged all-MiniLM-L6-v2 on our SciFact task,
as ``hyperret-eval run`` does it: first with an empty cache folder, then again with a
fresh search model over the same folder. The model is loaded and warmed up once, before
any timing. Every call to the encoder is counted (texts, by queries and documents), and
the peak anonymous memory of each run is sampled (benchmarks/memmap_search.py's sampler).
Writes benchmarks/results/embedding_cache.json.

    python benchmarks/embedding_cache.py --data-root ../shared/data [--batch-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mteb
from memmap_search import MemorySampler
from mteb.models.cache_wrappers import CachedEmbeddingWrapper

from report_header import report_header
from hyperret_eval.catalogue.models import resolve_model
from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.core import atomic
from hyperret_eval.core.world import World
from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.integrations.mteb_loader import load_for_mteb
from hyperret_eval.integrations.mteb_sharded import search_model_for
from hyperret_eval.integrations.mteb_tasks import build_task


def counting(encoder) -> dict[str, int]:
    """Texts passed to ``encoder.encode`` from now on, by prompt type."""
    counts = {"query": 0, "document": 0}
    encode = encoder.encode

    def counted(inputs, *, prompt_type=None, **kwargs):
        kind = prompt_type.value if prompt_type else "unspecified"
        counts[kind] = counts.get(kind, 0) + len(inputs.dataset)
        return encode(inputs, prompt_type=prompt_type, **kwargs)

    encoder.encode = counted
    return counts


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "embedding_cache.json"))
    args = parser.parse_args()

    spec = load_catalogue()["SciFact"]
    data = read_beir_folder(args.data_root / "beir" / "scifact", spec.split)
    encoder = load_for_mteb(resolve_model("minilm"), "cpu")
    encoder.model.encode(["a warm-up sentence"] * 64, batch_size=args.batch_size)
    counts = counting(encoder)

    def evaluate(model) -> dict:
        task = build_task(spec, data, dataset_path=str(args.data_root / "beir" / "scifact"), dataset_revision="bench")
        task.load_data()
        before = dict(counts)
        with MemorySampler(interval=0.05) as memory:
            started = time.perf_counter()
            result = mteb.evaluate(model, task, cache=None, overwrite_strategy="always", show_progress_bar=False,
                                   encode_kwargs={"batch_size": args.batch_size, "show_progress_bar": False})
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "ndcg_at_10": result.task_results[0].get_score(),
                "texts_encoded": {k: counts[k] - before.get(k, 0) for k in counts},
                "rss_anon_peak_bytes": memory.peak_anon}

    runs: dict[str, dict] = {"mteb_uncached": evaluate(encoder)}  # the reference score, no cache
    with tempfile.TemporaryDirectory() as work:
        ours, theirs = Path(work) / "ours", Path(work) / "mteb"
        for attempt in ("first", "second"):
            runs[f"embedding_cache_{attempt}"] = evaluate(search_model_for(encoder, World(), cache_dir=ours))
        for attempt in ("first", "second"):
            wrapper = CachedEmbeddingWrapper(encoder, theirs)
            runs[f"mteb_cached_embedding_wrapper_{attempt}"] = evaluate(wrapper)
            wrapper.close()
        disk = {"embedding_cache": folder_bytes(ours), "mteb_cached_embedding_wrapper": folder_bytes(theirs)}

    ratio = {name: runs[f"{name}_second"]["seconds"] / runs[f"{name}_first"]["seconds"]
             for name in ("embedding_cache", "mteb_cached_embedding_wrapper")}
    report = {
        **report_header("embedding_cache"),
        "settings": {"model": "minilm", "task": "SciFact", "corpus": len(data.corpus), "queries": len(data.queries),
                     "batch_size": args.batch_size},
        "runs": runs,
        "second_over_first": ratio,
        "ndcg_at_10_equals_uncached": {name: all(abs(runs[f"{name}_{attempt}"]["ndcg_at_10"]
                                                     - runs["mteb_uncached"]["ndcg_at_10"]) < 5e-5
                                                 for attempt in ("first", "second")) for name in ratio},
        "cache_bytes_on_disk": disk,
    }
    atomic.write_json(Path(args.output), report)
    print(f"no cache: {runs['mteb_uncached']['seconds']:.1f} s, nDCG@10 {runs['mteb_uncached']['ndcg_at_10']:.4f}")
    for name, value in ratio.items():
        first, second = runs[f"{name}_first"], runs[f"{name}_second"]
        print(f"{name}: first {first['seconds']:.1f} s, second {second['seconds']:.1f} s (ratio {value:.3f}); "
              f"second run encoded {second['texts_encoded']}; nDCG@10 {first['ndcg_at_10']:.4f} / "
              f"{second['ndcg_at_10']:.4f}")


if __name__ == "__main__":
    main()
