"""Reader for the BEIR folder format, with the checks BEIR's own loader leaves out.

A dataset folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv`` (header ``query-id  corpus-id  score``).
Every malformed line is reported with its file and line number, and qrels that name a
query or a document the folder does not hold are an error, not a silent drop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hyperret_eval.core.errors import DataFormatError, DataNotFoundError
from hyperret_eval.core.jsonfile import open_regular
from hyperret_eval.data.textfile import numbered_lines

Qrels = dict[str, dict[str, int]]
RELEVANCE_BOUND = 2**31  # pytrec_eval keeps grades in a C int


@dataclass
class RetrievalData:
    """One split of a retrieval dataset, plus the files it was read from."""

    corpus: dict[str, dict[str, str]]  # doc id -> {"title": ..., "text": ...}
    queries: dict[str, str]  # query id -> text (only queries that have judgements)
    qrels: Qrels  # query id -> doc id -> graded relevance
    files: list[Path]

    def __len__(self) -> int:
        """The number of queries scored."""
        return len(self.queries)


@dataclass
class RetrievalCollection:
    """Retrieval datasets scored one by one and averaged into one task, as mteb reports
    CQADupstack: its twelve forums, by task name."""

    parts: dict[str, RetrievalData]

    @property
    def files(self) -> list[Path]:
        return [path for part in self.parts.values() for path in part.files]

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts.values())


def document_text(doc: dict[str, str]) -> str:
    """A BEIR document as one text, title first (as mteb and BEIR's models join them)."""
    return f"{doc.get('title') or ''} {doc.get('text') or ''}".strip()


def _shown(value: object) -> str:
    """A JSON value as the user wrote it, cut short for a message."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_jsonl(path: Path, required: tuple[str, ...], what: str) -> list[tuple[int, dict]]:
    """The JSON objects of a corpus or queries file, checked: ``_id`` a string or an
    integer (stored as a string, surrounding whitespace dropped, as in qrels) and unique,
    ``text`` (and ``title`` when present) a string of valid Unicode (JSON's ``\\ud800``
    escape makes a lone surrogate, which no encoder downstream accepts)."""
    records = []
    seen: dict[str, int] = {}
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, number, f"not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise DataFormatError(path, number, "not valid JSON (nested too deeply)") from None
        except ValueError as exc:  # an integer of thousands of digits
            raise DataFormatError(path, number, f"not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise DataFormatError(path, number, "expected a JSON object")
        for key in required:
            if key not in record:
                raise DataFormatError(path, number, f"missing field {key!r}")
        record_id = record["_id"]
        if isinstance(record_id, bool) or not isinstance(record_id, (str, int)) or not str(record_id).strip():
            raise DataFormatError(path, number, f"_id must be a non-empty string, found {_shown(record_id)}")
        for key, optional in (("text", False), ("title", True)):
            value = record.get(key)
            if not isinstance(value, str) and not (optional and value is None):
                raise DataFormatError(path, number, f"field {key!r} must be a string, found {_shown(value)}")
        for key in ("_id", "text", "title"):
            if isinstance(record.get(key), str) and not _is_unicode(record[key]):
                raise DataFormatError(path, number, f"field {key!r} holds a lone surrogate (a \\ud800-style "
                                                    "escape): not valid Unicode text")
        record["_id"] = str(record_id).strip()
        if record["_id"] in seen:
            raise DataFormatError(
                path, number, f"duplicate _id {record['_id']!r} (first on line {seen[record['_id']]})"
            )
        seen[record["_id"]] = number
        records.append((number, record))
    if not records:
        raise DataFormatError(path, None, f"holds no {what} (one JSON object per line expected)")
    return records


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_corpus(path: Path) -> dict[str, dict[str, str]]:
    records = _read_jsonl(path, ("_id", "text"), "documents")
    return {rec["_id"]: {"title": rec.get("title") or "", "text": rec["text"]} for _, rec in records}


def read_queries(path: Path) -> dict[str, str]:
    return {rec["_id"]: rec["text"] for _, rec in _read_jsonl(path, ("_id", "text"), "queries")}


def read_qrels(path: Path) -> tuple[Qrels, dict[tuple[str, str], int]]:
    """The judgements, and the line each (query, doc) pair was read from.

    A pair judged twice is an error even with the same grade: BEIR's loader would keep the
    last grade silently, and a repeated line usually means two files were concatenated."""
    qrels: Qrels = {}
    lines: dict[tuple[str, str], int] = {}
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        columns = line.split("\t")
        if number == 1 and columns[0].strip() == "query-id":
            continue
        if len(columns) != 3:
            raise DataFormatError(
                path, number, f"expected 3 tab-separated columns (query-id, corpus-id, score), found {len(columns)}"
            )
        query_id, doc_id, score = (c.strip() for c in columns)
        if not query_id or not doc_id:
            raise DataFormatError(path, number, "empty query-id or corpus-id")
        add_judgement(qrels, lines, path, number, query_id, doc_id, score)
    return qrels, lines


def add_judgement(qrels: Qrels, lines: dict[tuple[str, str], int], path: Path, number: int, query_id: str,
                  doc_id: str, score: str) -> None:
    """Record one judgement read from line ``number`` of ``path``: an integer grade within
    what pytrec_eval holds, for a pair not judged before."""
    try:
        relevance = int(score)
    except ValueError:
        raise DataFormatError(path, number, f"relevance score must be an integer, found {score!r}") from None
    if not -RELEVANCE_BOUND <= relevance < RELEVANCE_BOUND:
        raise DataFormatError(path, number, f"relevance score {score} is out of range (a grade such as 0, 1 or 2)")
    if (query_id, doc_id) in lines:
        raise DataFormatError(path, number, f"query {query_id!r} and document {doc_id!r} are judged twice "
                                            f"(first on line {lines[(query_id, doc_id)]})")
    qrels.setdefault(query_id, {})[doc_id] = relevance
    lines[(query_id, doc_id)] = number


def beir_split_files(folder: Path, split: str) -> tuple[Path, Path, Path]:
    """The corpus, queries and qrels files of one split of a BEIR folder; each must exist."""
    files = (folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv")
    for needed in files:
        if not needed.is_file():
            splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
            have = f" (its qrels/ holds the splits {', '.join(splits)})" if splits and needed == files[2] else ""
            raise DataNotFoundError(f"BEIR dataset at {folder} lacks {needed.relative_to(folder)}{have}")
    return files


def count_lines(path: Path) -> int:
    """The lines of a file (a last one without a newline counted), read in large chunks."""
    lines = 0
    with open_regular(path, "file") as fh:
        ends_with_newline = True
        while chunk := fh.read(1 << 22):
            lines += chunk.count(b"\n")
            ends_with_newline = chunk.endswith(b"\n")
        lines += not ends_with_newline
    return lines


def count_split(folder: Path, split: str) -> tuple[int, int]:
    """Documents in the corpus and judged queries in one split of a BEIR folder, counted
    without parsing them (for listings: a corpus of millions of lines counts in seconds)."""
    corpus_file, _, qrels_file = beir_split_files(folder, split)
    documents = count_lines(corpus_file)
    queries = {line.split("\t", 1)[0] for _, line in numbered_lines(qrels_file) if line.strip()}
    queries.discard("query-id")
    return documents, len(queries)


def read_beir_folder(folder: Path, split: str) -> RetrievalData:
    """Read and cross-check a BEIR dataset folder for one split.

    Every file must be well formed (each problem is a :class:`DataFormatError` naming the
    file and line), ids unique and the corpus, queries and judgements non-empty. A
    judgement naming a query or a document that the folder does not hold is an error, not
    a warning: BEIR and MTEB would keep it, so the document could never be retrieved and
    every recall-based score would be silently lower. Queries without judgements are
    dropped, as BEIR does.
    """
    corpus_file, queries_file, qrels_file = beir_split_files(folder, split)
    corpus = read_corpus(corpus_file)
    queries = read_queries(queries_file)
    qrels, qrel_lines = read_qrels(qrels_file)

    for (query_id, doc_id), number in qrel_lines.items():
        if query_id not in queries:
            raise DataFormatError(qrels_file, number, f"query {query_id!r} is not in {queries_file.name}")
        if doc_id not in corpus:
            raise DataFormatError(qrels_file, number, f"document {doc_id!r} is not in {corpus_file.name}")
    if not qrels:
        raise DataFormatError(qrels_file, None, "holds no judgements")

    judged_queries = {qid: queries[qid] for qid in qrels}
    return RetrievalData(corpus, judged_queries, qrels, [corpus_file, queries_file, qrels_file])
