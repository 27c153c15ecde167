"""TREC's own topic and judgement files, over a corpus in the BEIR layout.

TREC Deep Learning distributes its queries as a two-column TSV (``qid<TAB>text``, no
header) and its judgements as TREC qrels (``qid 0 docid grade``, whitespace-separated);
the passages are MS MARCO's, which BEIR's ``msmarco`` folder holds as ``corpus.jsonl``.
:func:`read_trec_collection` reads the three into a :class:`RetrievalData`, with the
same checks as a BEIR folder: every malformed line named by file and line, every judged
query and passage present. Only judged queries are kept, as the track evaluates them.
"""

from __future__ import annotations

from pathlib import Path

from hyperret_eval.core.errors import DataFormatError, DataNotFoundError
from hyperret_eval.data.beir import Qrels, RetrievalData, add_judgement, count_lines, read_corpus
from hyperret_eval.data.textfile import numbered_lines


def read_topics(path: Path) -> dict[str, str]:
    """``qid<TAB>text`` lines; ids unique, text non-empty."""
    topics: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        query_id, tab, text = line.partition("\t")
        query_id, text = query_id.strip(), text.strip()
        if not tab or not query_id or not text:
            raise DataFormatError(path, number, "expected a query id, a tab and the query's text")
        if query_id in topics:
            raise DataFormatError(path, number, f"query {query_id!r} appears twice (first on line {lines[query_id]})")
        topics[query_id], lines[query_id] = text, number
    if not topics:
        raise DataFormatError(path, None, "holds no queries (one 'id<TAB>text' line each expected)")
    return topics


def read_trec_qrels(path: Path) -> tuple[Qrels, dict[tuple[str, str], int]]:
    """TREC qrels (``qid iteration docid grade``), and the line each pair was read from."""
    qrels: Qrels = {}
    lines: dict[tuple[str, str], int] = {}
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        columns = line.split()
        if len(columns) != 4:
            raise DataFormatError(path, number, f"expected 4 whitespace-separated columns (query id, iteration, "
                                                f"document id, grade), found {len(columns)}")
        query_id, _, doc_id, grade = columns
        add_judgement(qrels, lines, path, number, query_id, doc_id, grade)
    if not qrels:
        raise DataFormatError(path, None, "holds no judgements")
    return qrels, lines


def trec_files(folder: Path, files: tuple[str, ...], corpus_folder: Path) -> tuple[Path, Path, Path]:
    """The corpus, topics and qrels files; each must exist."""
    needed = (corpus_folder / "corpus.jsonl", folder / files[0], folder / files[1])
    for path in needed:
        if not path.is_file():
            raise DataNotFoundError(f"{path} is missing: a TREC collection here needs {', '.join(map(str, needed))}")
    return needed


def read_trec_collection(folder: Path, files: tuple[str, ...], corpus_folder: Path) -> RetrievalData:
    """The judged queries of ``folder``'s topics file (``files[0]``) and their judgements
    (``files[1]``), over ``corpus_folder/corpus.jsonl``."""
    corpus_file, topics_file, qrels_file = trec_files(folder, files, corpus_folder)
    topics = read_topics(topics_file)
    qrels, qrel_lines = read_trec_qrels(qrels_file)
    corpus = read_corpus(corpus_file)
    for (query_id, doc_id), number in qrel_lines.items():
        if query_id not in topics:
            raise DataFormatError(qrels_file, number, f"query {query_id!r} is not in {topics_file.name}")
        if doc_id not in corpus:
            raise DataFormatError(qrels_file, number, f"document {doc_id!r} is not in {corpus_file}")
    judged = {query_id: topics[query_id] for query_id in qrels}
    return RetrievalData(corpus, judged, qrels, [corpus_file, topics_file, qrels_file])


def count_trec(folder: Path, files: tuple[str, ...], corpus_folder: Path) -> tuple[int, int]:
    """Documents in the corpus and judged queries, counted without parsing the corpus."""
    corpus_file, _, qrels_file = trec_files(folder, files, corpus_folder)
    queries = {line.split()[0] for _, line in numbered_lines(qrels_file) if line.strip()}
    return count_lines(corpus_file), len(queries)
