"""Unlabeled text for SimCSE/HiCL-style training: a file of one text per line, or a mix
built from the data root."""

from __future__ import annotations

from pathlib import Path

from hyperret_eval.core.errors import DataNotFoundError, UserError
from hyperret_eval.data.beir import read_corpus
from hyperret_eval.data.folders import SCIFACT, TREC_DL_2019_SUBSET
from hyperret_eval.data.textfile import numbered_lines

# Sentence sets of SentEval (UTF-8 ones), abstracts, passages: short and long texts both.
TEXT_SOURCES: dict[str, tuple[str, ...]] = {
    "senteval": (
        "senteval/MR/rt-polarity.pos",
        "senteval/MR/rt-polarity.neg",
        "senteval/CR/custrev.pos",
        "senteval/CR/custrev.neg",
        "senteval/SUBJ/subj.objective",
        "senteval/SUBJ/subj.subjective",
        "senteval/MPQA/mpqa.pos",
        "senteval/MPQA/mpqa.neg",
    ),
    "scifact": (f"{SCIFACT}/corpus.jsonl",),
    "trec-dl": (f"{TREC_DL_2019_SUBSET}/corpus.jsonl",),
}


def read_lines(path: Path) -> list[str]:
    """One text per non-empty line."""
    if not path.is_file():
        raise DataNotFoundError(f"text file not found: {path}")
    return [line.strip() for _, line in numbered_lines(path) if line.strip()]


def _read_source_file(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        return [f"{doc['title']} {doc['text']}".strip() for doc in read_corpus(path).values()]
    return read_lines(path)


def text_source_files(data_root: Path, sources: tuple[str, ...] | list[str]) -> list[Path]:
    """The files the named sources read, in order; each must exist."""
    files: list[Path] = []
    for source in sources:
        if source not in TEXT_SOURCES:
            raise UserError(f"unknown text source {source!r}; expected one of {', '.join(TEXT_SOURCES)}")
        for relative in TEXT_SOURCES[source]:
            path = data_root / relative
            if not path.is_file():
                raise DataNotFoundError(
                    f"training text source {source!r} needs {path}; point --data-root at the benchmark data"
                )
            files.append(path)
    return files


def text_source_folders(sources: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The folders under the data root the named sources read from, each once."""
    folders = (str(Path(relative).parent) for source in sources for relative in TEXT_SOURCES.get(source, ()))
    return tuple(dict.fromkeys(folders))


def unlabeled_texts(data_root: Path, sources: tuple[str, ...] | list[str]) -> tuple[list[str], list[Path]]:
    """De-duplicated texts from the named sources, in a fixed order, and the files read."""
    texts: dict[str, None] = {}
    files = text_source_files(data_root, sources)
    for path in files:
        texts.update(dict.fromkeys(_read_source_file(path)))
    return list(texts), files
