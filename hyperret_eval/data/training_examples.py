"""Retrieval training examples, and training data in the format of the Hypencoder
paper's MS MARCO training set (``jfkback/hypencoder-msmarco-training-dataset``), read
without holding it in memory.

One JSON object a line: a query and its scored items, the first item being the positive
(the paper's ``positive_filter_type: first``), every other item a candidate negative, and
each item's ``score`` the teacher's (a cross-encoder) for margin-MSE::

    {"query": {"content": "what is ...", "id": "1185869"},
     "items": [{"content": "passage text", "score": 9.1, "id": "0"},
               {"content": "another passage", "score": -2.4, "id": "7"}, ...]}

A query or item may carry ``tokenized_content`` (token ids of the backbone's tokenizer,
special tokens included) instead of, or besides, ``content``; the ids are then used as
they are. The released set is about 96 GB in two files for 500k queries, so a first pass
records where each line starts (8 bytes a line) and each example is read when its batch
needs it; a malformed line is reported, with its file and line number, when it is read.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hyperret_eval.core.bars import progress_bar
from hyperret_eval.core.errors import DataFormatError, DataNotFoundError, UserError
from hyperret_eval.core.jsonfile import open_regular

MAX_LINE_BYTES = 64 << 20  # one query with its items; a longer line is refused before it is read

Text = str | tuple[int, ...]  # a text, or its token ids


@dataclass(frozen=True)
class Example:
    """One training example: a query, its positive and its negatives (texts or token ids),
    with the teacher's scores for positive and negatives when there are any."""

    query: Text
    positive: Text
    negatives: tuple[Text, ...]
    query_id: str = ""
    positive_id: str = ""
    negative_ids: tuple[str, ...] = ()
    teacher_scores: tuple[float, ...] | None = None  # positive first, then each negative


def jsonl_files(path: Path) -> list[Path]:
    """A JSONL file, or every ``*.jsonl`` file of a folder in name order."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.jsonl") if p.is_file())
        if not files:
            raise DataNotFoundError(f"training folder {path} holds no .jsonl file")
        return files
    if not path.is_file():
        raise DataNotFoundError(f"training file not found: {path}")
    return [path]


class ScoredItems:
    """Random access to the examples of one or more files in the format above."""

    def __init__(self, path: Path, show_progress: bool = True) -> None:
        self.files = jsonl_files(path)
        self._file = array("H")  # which file each example is in
        self._offset = array("q")  # where its line starts
        self._line = array("q")  # its 1-based line number
        total = sum(f.stat().st_size for f in self.files)
        with progress_bar(total=total, unit="B", unit_scale=True, desc=f"Indexing {path.name}", disable=not show_progress) as bar:
            for index, file in enumerate(self.files):
                self._index_file(index, file, bar)
        if not self._offset:
            raise DataFormatError(path, None, "no training example (every line is blank)")

    def _index_file(self, index: int, file: Path, bar) -> None:
        with open_regular(file, "training file") as fh:
            offset = 0
            for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), start=1):
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    raise DataFormatError(file, number, f"line longer than {MAX_LINE_BYTES >> 20} MiB")
                if raw.strip():
                    self._file.append(index)
                    self._offset.append(offset)
                    self._line.append(number)
                offset += len(raw)
                bar.update(len(raw))

    def __len__(self) -> int:
        return len(self._offset)

    def example(self, index: int, negatives: int, rng: np.random.Generator) -> Example:
        """Example ``index`` with ``negatives`` negatives drawn by ``rng`` from its items."""
        file, line = self.files[self._file[index]], self._line[index]
        with open(file, "rb") as fh:
            fh.seek(self._offset[index])
            raw = fh.readline(MAX_LINE_BYTES + 1)
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise DataFormatError(file, line, f"not a JSON object ({exc})") from None
        return _example(record, negatives, rng, file, line)


def _example(record, negatives: int, rng: np.random.Generator, file: Path, line: int) -> Example:
    def fail(problem: str):
        raise DataFormatError(file, line, problem)

    if not isinstance(record, dict) or not isinstance(record.get("query"), dict):
        fail('expected an object with a "query" object and an "items" list')
    items = record.get("items")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        fail('"items" must be a list of objects')
    if len(items) < 1 + negatives:
        fail(f"{len(items)} items: need the positive and {negatives} negatives")
    chosen = [0, *sorted((1 + rng.choice(len(items) - 1, size=negatives, replace=False)).tolist())]
    texts = [_text(items[i], f"items[{i}]", fail) for i in chosen]
    scores = [items[i].get("score") for i in chosen]
    teacher = None
    if any(score is not None for score in scores):
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) for s in scores):
            fail(f'every item needs a finite numeric "score" when any has one (items {chosen})')
        teacher = tuple(float(s) for s in scores)
    return Example(
        query=_text(record["query"], "query", fail), positive=texts[0], negatives=tuple(texts[1:]),
        query_id=str(record["query"].get("id", "")), positive_id=str(items[0].get("id", "")),
        negative_ids=tuple(str(items[i].get("id", "")) for i in chosen[1:]), teacher_scores=teacher,
    )


def _text(entry: dict, where: str, fail) -> Text:
    content = entry.get("content")
    if isinstance(content, str) and content.strip():
        return content
    ids = entry.get("tokenized_content")
    if isinstance(ids, list) and ids and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
        return tuple(ids)
    fail(f'{where} needs a non-empty "content" string or a "tokenized_content" list of token ids')


def token_ids(tokenizer, texts: Sequence[Text], max_length: int) -> list[list[int]]:
    """Token ids for a batch of texts and/or id sequences, each cut to ``max_length`` (an
    id sequence keeps its last id, the closing special token)."""
    vocab = len(tokenizer)
    out = []
    for text in texts:
        if isinstance(text, str):
            out.append(tokenizer(text, truncation=True, max_length=max_length)["input_ids"])
            continue
        if max(text) >= vocab:
            raise UserError(f"training data holds token id {max(text)}, outside the backbone tokenizer's "
                            f"vocabulary of {vocab}: its tokenized_content comes from another tokenizer")
        out.append(list(text) if len(text) <= max_length else [*text[: max_length - 1], text[-1]])
    return out
