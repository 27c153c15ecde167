"""The STS protocol of the SimCSE and HiCL papers, on SentEval's copies of the data.

MTEB scores each STS year as one pool of pairs from the organisers' files. The papers
instead run SentEval on its lower-cased, tokenized copies and report, per year, the
Spearman correlation of cosine similarities over all subsets pooled (the "all" setting),
and the test-set Spearman for STS-B and SICK-R (4,927 SICK test pairs, where MTEB uses
all 9,927). Reporting both lets results be read against MTEB and against the papers.

A run reports the protocol for the STS tasks it was asked for only (each set is encoded
again from SentEval's copy, so the other six would cost six more evaluations); the papers'
average over all seven is reported when all seven were evaluated.
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


PROTOCOL = "SentEval copies, cosine similarity, Spearman x100"

SENTEVAL_SETS = (
    SentEvalSet("STS12", "sts/STS12-en-test", "semeval"),
    SentEvalSet("STS13", "sts/STS13-en-test", "semeval"),
    SentEvalSet("STS14", "sts/STS14-en-test", "semeval"),
    SentEvalSet("STS15", "sts/STS15-en-test", "semeval"),
    SentEvalSet("STS16", "sts/STS16-en-test", "semeval"),
    SentEvalSet("STSBenchmark", "sts/STSBenchmark/sts-test.csv", "stsb-csv"),
    SentEvalSet("SICK-R", "sts/SICK/SICK_test_annotated.txt", "sick"),
)
_NAMES = tuple(entry.name for entry in SENTEVAL_SETS)


def sets_for(task_names) -> tuple[SentEvalSet, ...]:
    """The SentEval sets of the STS tasks named (catalogue names), in the papers' order."""
    names = set(task_names)
    return tuple(entry for entry in SENTEVAL_SETS if entry.name in names)


def available(data_root: Path, sets: tuple[SentEvalSet, ...] = SENTEVAL_SETS) -> bool:
    return all((data_root / s.path).exists() for s in sets)


@dataclass(frozen=True)
class LoadedSets:
    """SentEval sets read and checked: set name -> subset name -> pairs."""

    by_set: dict[str, dict[str, STSPairs]]

    @property
    def pairs(self) -> int:
        return sum(len(pairs) for subsets in self.by_set.values() for pairs in subsets.values())

    @property
    def texts(self) -> int:
        """Sentences to encode: both sides of every pair."""
        return 2 * self.pairs


def load(data_root: Path, sets: tuple[SentEvalSet, ...] = SENTEVAL_SETS) -> LoadedSets:
    """Read ``sets`` from SentEval's copies under ``data_root``, each subset checked to have
    a defined correlation (each is scored alone)."""
    return LoadedSets({entry.name: _subsets(data_root, entry) for entry in sets})


def _subsets(data_root: Path, entry: SentEvalSet) -> dict[str, STSPairs]:
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


def evaluate(encode, sets: LoadedSets, batch_size: int = 32) -> dict:
    """Spearman x100 per subset and pooled ("all") per year of ``sets``, and, when
    ``sets`` holds all seven, their average (the papers' "Avg.").

    ``encode`` is a sentence-transformers style ``encode`` function.
    """
    report: dict = {"protocol": PROTOCOL, "tasks": {}}
    with torch.inference_mode():
        for set_name, subsets in sets.by_set.items():
            gold, predicted, per_subset = [], [], {}
            for name, pairs in subsets.items():
                scores = _cosine_scores(encode, pairs, batch_size)
                per_subset[name] = 100 * float(spearmanr(pairs.scores, scores)[0])
                gold.extend(pairs.scores)
                predicted.extend(scores.tolist())
            pooled = 100 * float(spearmanr(gold, predicted)[0])
            sizes = {name: len(pairs) for name, pairs in subsets.items()}
            report["tasks"][set_name] = {
                "all": pooled,
                "subsets": per_subset if len(subsets) > 1 else {},
                "mean": float(np.mean(list(per_subset.values()))),
                "wmean": float(sum(per_subset[n] * sizes[n] for n in sizes) / sum(sizes.values())),
                "pairs": sum(sizes.values()),
            }
    return with_average(report)


def with_average(report: dict) -> dict:
    """``report`` with ``avg`` over its tasks' "all" scores when it covers all seven sets
    (an average over fewer is no figure of the papers), without it otherwise."""
    report = {key: value for key, value in report.items() if key != "avg"}
    if set(report["tasks"]) == {entry.name for entry in SENTEVAL_SETS}:
        report["avg"] = float(np.mean([report["tasks"][entry.name]["all"] for entry in SENTEVAL_SETS]))
    return report


def merged(previous: dict | None, report: dict) -> dict:
    """``report``'s tasks over those of an earlier report of the same model (``previous``,
    as read from its file), so that runs of a few STS tasks each add up to the full table."""
    if not isinstance(previous, dict) or previous.get("protocol") != PROTOCOL \
            or not isinstance(previous.get("tasks"), dict):
        return report
    tasks = {name: task for name, task in previous["tasks"].items()
             if name in _NAMES and isinstance(task, dict) and isinstance(task.get("all"), (int, float))}
    tasks.update(report["tasks"])
    ordered = {name: tasks[name] for name in _NAMES if name in tasks}
    return with_average({**previous, **report, "tasks": ordered})
