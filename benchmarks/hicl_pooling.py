"""Which segment pooling suits the default backbone: CLS or mean, untrained HiCL encoder
(segments of 32 tokens), scored through mteb on STSBenchmark and SICK-R.
Writes benchmarks/results/hicl_pooling.json.

    python benchmarks/hicl_pooling.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mteb
from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
from sentence_transformers import SentenceTransformer

from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.core import atomic
from hyperret_eval.core.provenance import package_versions
from hyperret_eval.data import sources
from hyperret_eval.integrations.mteb_tasks import build_task
from hyperret_eval.models.backbones import backbone_path
from hyperret_eval.models.hicl import HiCLEncoder

TASKS = ("STSBenchmark", "SICK-R")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "hicl_pooling.json"))
    args = parser.parse_args()
    data_root = Path(args.data_root).resolve()
    catalogue = load_catalogue()
    scores: dict[str, dict[str, float]] = {}
    for pooling in ("mean", "cls"):
        encoder = HiCLEncoder(str(backbone_path("minilm")), segment_length=32, max_tokens=128, pooling=pooling)
        model = SentenceTransformerEncoderWrapper(SentenceTransformer(modules=[encoder], device="cpu"))
        scores[pooling] = {}
        for name in TASKS:
            spec = catalogue[name]
            task = build_task(spec, sources.load(name, spec.source, spec.split, data_root), str(data_root), "-")
            result = mteb.evaluate(model, task, cache=None, overwrite_strategy="always", show_progress_bar=False)
            scores[pooling][name] = result.task_results[0].get_score()
            print(f"{pooling:>4} {name}: {100 * scores[pooling][name]:.2f}", flush=True)
    atomic.write_json(Path(args.output), {
        "benchmark": "hicl_pooling",
        "command": " ".join(["python", *sys.argv]),
        "packages": package_versions(),
        "setting": "untrained HiCL encoder on all-MiniLM-L6-v2, segment_length 32, max_tokens 128; cosine Spearman",
        "scores": scores,
        "best": max(scores, key=lambda p: sum(scores[p].values())),
    })


if __name__ == "__main__":
    main()
