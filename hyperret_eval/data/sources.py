"""Where a dataset comes from, and turning that into loaded data.

A :class:`Source` says how a dataset is laid out under the data root and, optionally,
where it can be fetched from when it is missing. :func:`load` reads it, downloading
first if needed and allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from hyperret_eval.core.errors import DataNotFoundError, UserError
from hyperret_eval.data import download
from hyperret_eval.data.beir import RetrievalData, read_beir_folder
from hyperret_eval.data.hub_retrieval import QUERY_AND_QRELS_FILES, write_beir_folder, write_trec_files
from hyperret_eval.data.sts import STSPairs, read_semeval_all, read_sick, read_stsb_csv, require_correlatable
from hyperret_eval.data.trec import read_trec_collection

FORMATS = ("semeval", "stsb-csv", "sick", "beir", "trec")
URL_SCHEMES = ("https://", "http://")  # the only URLs fetched: no file://, ftp:// or data:
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


def relative_inside(path: object, what: str) -> str:
    """``path`` if, joined to a root folder, it stays inside it as written: a non-empty
    relative POSIX path with no ``..`` (nor ``\\`` or NUL). Links the root's owner made
    inside the root are theirs to make; a path that a task file names may not climb out."""
    if not isinstance(path, str) or not path or "\\" in path or "\0" in path:
        raise UserError(f"{what} {path!r} must be a non-empty relative path")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or path.startswith("~"):
        raise UserError(f"{what} {path!r} leads outside the data root: it must be a relative path "
                        "without '..' (a folder or file under --data-root)")
    return path


@dataclass(frozen=True)
class Source:
    """How to find one dataset.

    ``path`` is relative to the data root: a folder (``semeval``, ``sick``, ``beir``) or a
    file (``stsb-csv``). ``files`` names the files of a ``sick`` folder to concatenate.
    ``beir_url`` (a BEIR zip, for ``beir``) or ``hf_dataset`` say where to fetch it when it
    is missing. A hub dataset is kept as a snapshot for the STS formats (``sentence1``,
    ``sentence2``, ``score`` columns) and written out as a BEIR folder at ``path`` for
    ``beir`` (mteb's retrieval layout: ``corpus``, ``queries``, ``qrels``). ``fetch_into``
    is the folder a zip unpacks to when that is above ``path`` (CQADupstack's one zip
    holds all twelve forums).

    ``trec`` is TREC's own files over a BEIR corpus: ``path`` is the folder holding
    ``files`` (the topics TSV, then the TREC qrels), ``corpus`` the BEIR folder whose
    ``corpus.jsonl`` holds the passages. ``hf_dataset`` then fetches the topics and
    judgements alone (mteb's hub dataset, corpus left out), ``beir_url`` the corpus.
    """

    format: str
    path: str
    files: tuple[str, ...] = ()
    beir_url: str | None = None
    hf_dataset: str | None = None
    hf_revision: str | None = None
    fetch_into: str | None = None
    corpus: str | None = None
    instructions: str | None = None  # how to get data that has no download we run

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise UserError(f"unknown data format {self.format!r}; expected one of {', '.join(FORMATS)}")
        if (self.format == "trec") != (self.corpus is not None) or (self.format == "trec" and len(self.files) != 2):
            raise UserError("the trec format needs 'corpus' (a BEIR folder) and 'files' (the topics TSV and the "
                            "TREC qrels), and only it takes 'corpus'")
        if self.beir_url is not None and not self.beir_url.lower().startswith(URL_SCHEMES):
            raise UserError(f"beir_url {self.beir_url!r}: only {' and '.join(URL_SCHEMES)} URLs are fetched")
        if self.hf_dataset is not None and (not _HUB_ID.fullmatch(self.hf_dataset) or ".." in self.hf_dataset):
            raise UserError(f"hf_dataset {self.hf_dataset!r} is not a hub dataset id (org/name)")

    def check_inside_data_root(self) -> Source:
        """This source, if every path it names stays under the data root (see
        :func:`relative_inside`): what a catalogue entry must meet. (A folder the user names
        in ``--tasks`` is a source with an absolute path of their own choosing.)"""
        relative_inside(self.path, "path")
        if self.corpus is not None:
            relative_inside(self.corpus, "corpus")
        for name in self.files:
            relative_inside(name, "files entry")
        if self.fetch_into is not None:
            relative_inside(self.fetch_into, "fetch_into")
            into = PurePosixPath(self.fetch_into)
            if into != PurePosixPath(self.path) and into not in PurePosixPath(self.path).parents:
                raise UserError(f"fetch_into {self.fetch_into!r} must be the folder {self.path!r} lies in, or above it")
        return self

    def local_path(self, data_root: Path) -> Path:
        return data_root / self.path

    def where(self, data_root: Path, split: str) -> str:
        """Where the data goes, files named where a folder alone would not say it."""
        local = self.local_path(data_root)
        if self.format == "trec":
            return f"{local} (holding {' and '.join(self.files)}) with {self.corpus_path(data_root) / 'corpus.jsonl'}"
        if self.format == "beir":
            return f"{local} (with qrels/{split}.tsv)"
        return str(local)

    def corpus_path(self, data_root: Path) -> Path | None:
        """The BEIR folder a ``trec`` collection takes its passages from."""
        return data_root / self.corpus if self.corpus else None

    def hf_snapshot_path(self, data_root: Path) -> Path | None:
        if not self.hf_dataset or self.format in ("beir", "trec"):
            return None
        return data_root / "hf" / self.hf_dataset.replace("/", "__")

    def is_available(self, data_root: Path) -> bool:
        if self.format == "trec":
            return self.local_path(data_root).exists() and self.corpus_path(data_root).exists()
        snapshot = self.hf_snapshot_path(data_root)
        return self.local_path(data_root).exists() or bool(snapshot and snapshot.exists())

    def describe_fetch(self) -> str:
        if self.instructions:
            return self.instructions
        if self.format == "trec":
            topics = (f"the topics and judgements from the Hugging Face hub dataset {self.hf_dataset}"
                      if self.hf_dataset else "the topics and judgements have no public download here")
            corpus = f"the corpus from {self.beir_url}" if self.beir_url else "the corpus has no public download here"
            return f"when this machine is online, {topics} and {corpus} are downloaded"
        if self.beir_url:
            return f"it is downloaded from {self.beir_url} when this machine is online"
        if self.hf_dataset:
            return f"it is downloaded from the Hugging Face hub dataset {self.hf_dataset} when this machine is online"
        return "it has no public download; copy it there by hand"


def not_found(name: str, source: Source, data_root: Path, reason: str | None) -> DataNotFoundError:
    """Dataset ``name`` is missing: where it was looked for, why it was not fetched, where to put it."""
    why = f" The download failed: {reason}." if reason else ""
    if source.format == "trec":
        return DataNotFoundError(
            f"Dataset {name!r} is not in the data root: it needs the folder {source.local_path(data_root)} holding "
            f"{' and '.join(source.files)}, and {source.corpus_path(data_root) / 'corpus.jsonl'} (BEIR's msmarco "
            f"layout).{why} Point --data-root (or HYPERRET_DATA) at a folder that holds {source.path}/ and "
            f"{source.corpus}/; otherwise {source.describe_fetch()}."
        )
    return DataNotFoundError(
        f"Dataset {name!r} is not in the data root: looked for {source.local_path(data_root)}.{why} "
        f"Point --data-root (or the HYPERRET_DATA environment variable) at a folder that holds "
        f"{source.path} in the {source.format} layout; otherwise {source.describe_fetch()}."
    )


def fetch(name: str, source: Source, split: str, data_root: Path) -> None:
    """Download dataset ``name`` into the data root; a :class:`DataNotFoundError` says why not."""
    try:
        if source.format == "trec":
            _fetch_trec(source, split, data_root)
        elif source.beir_url:
            destination = data_root / (source.fetch_into or source.path)
            if destination.exists():
                raise download.DownloadError(f"{destination} exists but lacks {source.local_path(data_root)}: "
                                             f"complete it or remove it to download it again")
            download.download_beir_zip(source.beir_url, destination)
        elif source.hf_dataset and source.format == "beir":
            download.download_hf_dataset(source.hf_dataset, source.hf_revision, source.local_path(data_root),
                                         convert=partial(write_beir_folder, split=split))
        elif source.hf_dataset:
            download.download_hf_dataset(source.hf_dataset, source.hf_revision, source.hf_snapshot_path(data_root))
        else:
            raise not_found(name, source, data_root, None)
    except download.DownloadError as exc:
        raise not_found(name, source, data_root, str(exc)) from None


def _fetch_trec(source: Source, split: str, data_root: Path) -> None:
    """The missing parts of a ``trec`` collection: its corpus folder, its topics and qrels."""
    corpus, topics = source.corpus_path(data_root), source.local_path(data_root)
    # Both parts must be downloadable before either is: the corpus is gigabytes.
    for part, url in ((corpus, source.beir_url), (topics, source.hf_dataset)):
        if not part.exists() and not url:
            raise download.DownloadError(f"{part} is missing and has no download we run")
    if not corpus.exists():
        download.download_beir_zip(source.beir_url, corpus)
    if not topics.exists():
        download.download_hf_dataset(source.hf_dataset, source.hf_revision, topics,
                                     convert=partial(write_trec_files, split=split, files=source.files),
                                     allow_patterns=QUERY_AND_QRELS_FILES)


def _read_hf_snapshot(folder: Path, split: str) -> STSPairs:
    import datasets

    table = datasets.load_dataset(str(folder), split=split)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)
    return STSPairs(list(table["sentence1"]), list(table["sentence2"]), [float(s) for s in table["score"]], files)


def load(name: str, source: Source, split: str, data_root: Path) -> STSPairs | RetrievalData:
    """Read dataset ``name`` from the data root, fetching it first if it is missing."""
    local = source.local_path(data_root)
    snapshot = source.hf_snapshot_path(data_root)
    if not source.is_available(data_root):
        if not data_root.is_dir() and not (source.beir_url or source.hf_dataset):
            raise DataNotFoundError(
                f"The data root {data_root} does not exist. Pass --data-root DIR or set HYPERRET_DATA "
                f"to the folder that holds the benchmark data (for example ../shared/data)."
            )
        fetch(name, source, split, data_root)

    if not local.exists() and snapshot and snapshot.exists():
        return require_correlatable(_read_hf_snapshot(snapshot, split), snapshot)
    if source.format == "semeval":
        return require_correlatable(read_semeval_all(local), local)
    if source.format == "stsb-csv":
        return require_correlatable(read_stsb_csv(local), local)
    if source.format == "sick":
        return require_correlatable(read_sick([local / f for f in source.files]), local)
    if source.format == "trec":
        return read_trec_collection(local, source.files, source.corpus_path(data_root))
    return read_beir_folder(local, split)
