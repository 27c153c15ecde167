"""Readers for semantic-textual-similarity data in its published on-disk layouts.

- SemEval STS 2012-2016 folders, both SentEval's tokenized copy (``STS.input.<subset>.txt``
  with ``STS.gs.<subset>.txt``) and the organisers' release (STS 2016 names its files
  ``STS2016.input.<subset>.txt``). An empty gold line marks an unscored pair: skipped.
- STS Benchmark CSVs (tab-separated: genre, file, year, id, score, sentence1, sentence2,
  sometimes followed by source columns, which are ignored).
- SICK (tab-separated with a header naming ``sentence_A``, ``sentence_B`` and
  ``relatedness_score``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from hyperret_eval.core.errors import DataFormatError, DataNotFoundError
from hyperret_eval.data.textfile import numbered_lines


@dataclass
class STSPairs:
    """Sentence pairs with gold similarity scores, and the files they came from."""

    sentence1: list[str] = field(default_factory=list)
    sentence2: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores)

    def extend(self, other: STSPairs) -> None:
        self.sentence1.extend(other.sentence1)
        self.sentence2.extend(other.sentence2)
        self.scores.extend(other.scores)
        self.files.extend(other.files)


_SEMEVAL_INPUT = re.compile(r"^(?P<prefix>STS(?:\d{4})?)\.input\.(?P<subset>.+)\.txt$")


def _parse_score(path: Path, number: int, text: str) -> float:
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    if not math.isfinite(score):  # float() accepts "nan" and "inf"; no correlation survives them
        raise DataFormatError(path, number, f"expected a similarity score, found {text!r}")
    return score


def _nonempty(pairs: STSPairs, path: Path, before: int = 0) -> STSPairs:
    """``pairs``, unless ``path`` added none to the ``before`` it had: an empty file is an error."""
    if len(pairs) == before:
        raise DataFormatError(path, None, "holds no scored sentence pairs")
    return pairs


def require_correlatable(pairs: STSPairs, where: Path) -> STSPairs:
    """``pairs``, if a correlation with their gold scores is defined: at least two pairs,
    with scores that differ. Otherwise scipy raises on one pair, and constant (or two tied)
    scores give a NaN main score that would be written as a result."""
    if len(set(pairs.scores)) < 2:
        raise DataFormatError(where, None, f"its {len(pairs)} scored pair(s) all have the gold score "
                                           f"{pairs.scores[0]:g}: a correlation needs scores that differ")
    return pairs


def read_semeval_subset(input_file: Path, gold_file: Path) -> STSPairs:
    """One SemEval subset: an input file of sentence pairs and its gold-score file."""
    pairs = STSPairs(files=[input_file, gold_file])
    inputs = list(numbered_lines(input_file))
    golds = list(numbered_lines(gold_file))
    if len(inputs) != len(golds):
        raise DataFormatError(
            gold_file,
            None,
            f"has {len(golds)} lines but {input_file.name} has {len(inputs)}; "
            "each input pair needs exactly one gold line (empty for an unscored pair)",
        )
    for (number, line), (_, gold) in zip(inputs, golds):
        if not gold.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise DataFormatError(input_file, number, "expected two tab-separated sentences")
        pairs.sentence1.append(columns[0])
        pairs.sentence2.append(columns[1])
        pairs.scores.append(_parse_score(gold_file, number, gold.strip()))
    return _nonempty(pairs, gold_file)


def read_semeval_folder(folder: Path) -> dict[str, STSPairs]:
    """Every subset of a SemEval STS year folder, by subset name, sorted by name."""
    if not folder.is_dir():
        raise DataNotFoundError(f"STS folder not found: {folder}")
    subsets: dict[str, STSPairs] = {}
    for input_file in sorted(folder.iterdir()):
        match = _SEMEVAL_INPUT.match(input_file.name)
        if not match:
            continue
        gold_file = folder / f"{match['prefix']}.gs.{match['subset']}.txt"
        if not gold_file.is_file():
            raise DataFormatError(input_file, None, f"has no gold-score file {gold_file.name} beside it")
        subsets[match["subset"]] = read_semeval_subset(input_file, gold_file)
    if not subsets:
        raise DataNotFoundError(f"no STS.input.<subset>.txt files in {folder}")
    return subsets


def read_semeval_all(folder: Path) -> STSPairs:
    """All subsets of a year concatenated (how MTEB scores STS12-16)."""
    combined = STSPairs()
    for pairs in read_semeval_folder(folder).values():
        combined.extend(pairs)
    return combined


def read_stsb_csv(path: Path) -> STSPairs:
    """An STS Benchmark split file (``sts-test.csv`` and friends)."""
    pairs = STSPairs(files=[path])
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 7:
            raise DataFormatError(
                path, number, f"expected at least 7 tab-separated columns, found {len(columns)}"
            )
        pairs.scores.append(_parse_score(path, number, columns[4]))
        pairs.sentence1.append(columns[5])
        pairs.sentence2.append(columns[6])
    return _nonempty(pairs, path)


def read_sick(paths: list[Path]) -> STSPairs:
    """SICK relatedness pairs from one or more SICK files, concatenated in order."""
    pairs = STSPairs()
    for path in paths:
        pairs.files.append(path)
        before = len(pairs)
        lines = numbered_lines(path)
        header = next(lines, (1, ""))[1].split("\t")
        needed = ("sentence_A", "sentence_B", "relatedness_score")
        missing = [name for name in needed if name not in header]
        if missing:
            raise DataFormatError(path, 1, f"header lacks column(s) {', '.join(missing)}")
        a, b, s = (header.index(name) for name in needed)
        for number, line in lines:
            if not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) < len(header):
                raise DataFormatError(
                    path, number, f"expected {len(header)} tab-separated columns, found {len(columns)}"
                )
            pairs.sentence1.append(columns[a])
            pairs.sentence2.append(columns[b])
            pairs.scores.append(_parse_score(path, number, columns[s]))
        _nonempty(pairs, path, before)
    return pairs
