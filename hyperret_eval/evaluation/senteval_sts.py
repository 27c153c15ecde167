"""The STS protocol of the SimCSE and HiCL papers, on SentEval's copies of the data.

MTEB scores each STS year as one pool of pairs from the organisers' files. The papers
instead run SentEval on its lower-cased, tokenized copies and report, per year, the
Spearman correlation of cosine similarities over all subsets pooled (the "all" setting),
and the test-set Spearman for STS-B and SICK-R (4,927 SICK test pairs, where MTEB uses
all 9,927). Reporting both lets results be read against MTEB and against the papers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from hyperret_eval.data.sts import STSPairs, read_semeval_folder, read_sick, read_stsb_csv, require_correlatable


@dataclass(frozen=True)
class SentEvalSet:
    name: str
    path: str  # under the data root
    format: str  # semeval, stsb-csv or sick


SENTEVAL_SETS = (
    SentEvalSet("STS12", "sts/STS12-en-test", "semeval"),
    SentEvalSet("STS13", "sts/STS13-en-test", "semeval"),
    SentEvalSet("STS14", "sts/STS14-en-test", "semeval"),
    SentEvalSet("STS15", "sts/STS15-en-test", "semeval"),
    SentEvalSet("STS16", "sts/STS16-en-test", "semeval"),
    SentEvalSet("STSBenchmark", "sts/STSBenchmark/sts-test.csv", "stsb-csv"),
    SentEvalSet("SICK-R", "sts/SICK/SICK_test_annotated.txt", "sick"),
)


def available(data_root: Path) -> bool:
    return all((data_root / s.path).exists() for s in SENTEVAL_SETS)


def _subsets(data_root: Path, entry: SentEvalSet) -> dict[str, STSPairs]:
    """Each subset of a set, checked to have a defined correlation (each is scored alone)."""
    path = data_root / entry.path
    if entry.format == "semeval":
        subsets = read_semeval_folder(path)
    elif entry.format == "stsb-csv":
        subsets = {"test": read_stsb_csv(path)}
    else:
        subsets = {"test": read_sick([path])}
    return {name: require_correlatable(pairs, pairs.files[-1]) for name, pairs in subsets.items()}


def _cosine_scores(encode, pairs: STSPairs, batch_size: int) -> np.ndarray:
    left = encode(pairs.sentence1, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True)
    right = encode(pairs.sentence2, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True)
    return (left * right).sum(dim=-1).float().cpu().numpy()


def evaluate(encode, data_root: Path, batch_size: int = 32) -> dict:
    """Spearman x100 per subset and pooled ("all") per year, and their average.

    ``encode`` is a sentence-transformers style ``encode`` function.
    """
    report: dict = {"protocol": "SentEval copies, cosine similarity, Spearman x100", "tasks": {}}
    with torch.inference_mode():
        for entry in SENTEVAL_SETS:
            subsets = _subsets(data_root, entry)
            gold, predicted, per_subset = [], [], {}
            for name, pairs in subsets.items():
                scores = _cosine_scores(encode, pairs, batch_size)
                per_subset[name] = 100 * float(spearmanr(pairs.scores, scores)[0])
                gold.extend(pairs.scores)
                predicted.extend(scores.tolist())
            pooled = 100 * float(spearmanr(gold, predicted)[0])
            sizes = {name: len(pairs) for name, pairs in subsets.items()}
            report["tasks"][entry.name] = {
                "all": pooled,
                "subsets": per_subset if len(subsets) > 1 else {},
                "mean": float(np.mean(list(per_subset.values()))),
                "wmean": float(sum(per_subset[n] * sizes[n] for n in sizes) / sum(sizes.values())),
                "pairs": sum(sizes.values()),
            }
    report["avg"] = float(np.mean([task["all"] for task in report["tasks"].values()]))
    return report
