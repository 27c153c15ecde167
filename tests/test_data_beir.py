import json

import pytest

from hyperret_eval.data.beir import read_beir_folder
from hyperret_eval.errors import DataFormatError, DataNotFoundError


def test_scifact_is_read_completely(data_root):
    data = read_beir_folder(data_root / "beir" / "scifact", "test")
    assert len(data.corpus) == 5183
    assert len(data.queries) == 300
    assert sum(len(docs) for docs in data.qrels.values()) == 339
    assert set(data.queries) == set(data.qrels)


def test_trec_dl_subset_keeps_graded_judgements(data_root):
    data = read_beir_folder(data_root / "beir" / "trec-dl-2019-subset", "test")
    assert len(data.queries) == 43
    assert len(data.corpus) == 5000
    grades = {g for docs in data.qrels.values() for g in docs.values()}
    assert {1, 2, 3} <= grades


def _append(path, text):
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _line_count(path):
    return sum(1 for _ in open(path, encoding="utf-8"))


def test_malformed_corpus_line_names_file_and_line(broken_beir_root):
    root = broken_beir_root(lambda folder: _append(folder / "corpus.jsonl", '{"_id": "x", "text": \n'))
    corpus = root / "beir/scifact/corpus.jsonl"
    with pytest.raises(DataFormatError) as err:
        read_beir_folder(root / "beir" / "scifact", "test")
    assert err.value.path == corpus
    assert err.value.line == _line_count(corpus)
    assert "not valid JSON" in str(err.value)


def test_missing_field(broken_beir_root):
    root = broken_beir_root(lambda folder: _append(folder / "queries.jsonl", json.dumps({"_id": "q"}) + "\n"))
    with pytest.raises(DataFormatError, match="missing field 'text'"):
        read_beir_folder(root / "beir" / "scifact", "test")


def test_duplicate_document_id(tmp_path, broken_beir_root):
    def duplicate_first(folder):
        first = (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[0]
        _append(folder / "corpus.jsonl", first + "\n")

    root = broken_beir_root(duplicate_first)
    with pytest.raises(DataFormatError, match=r"duplicate _id .* \(first on line 1\)"):
        read_beir_folder(root / "beir" / "scifact", "test")


def test_qrels_naming_unknown_document(broken_beir_root):
    def judge_missing_doc(folder):
        qid = json.loads((folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()[0])["_id"]
        _append(folder / "qrels" / "test.tsv", f"{qid}\tno-such-doc\t1\n")

    root = broken_beir_root(judge_missing_doc)
    qrels = root / "beir/scifact/qrels/test.tsv"
    with pytest.raises(DataFormatError) as err:
        read_beir_folder(root / "beir" / "scifact", "test")
    assert err.value.line == _line_count(qrels)
    assert "document 'no-such-doc' is not in corpus.jsonl" in str(err.value)


def test_qrels_naming_unknown_query(broken_beir_root):
    root = broken_beir_root(lambda folder: _append(folder / "qrels" / "test.tsv", "ghost\t4983\t1\n"))
    with pytest.raises(DataFormatError, match="query 'ghost' is not in queries.jsonl"):
        read_beir_folder(root / "beir" / "scifact", "test")


def test_non_integer_relevance(broken_beir_root):
    root = broken_beir_root(lambda folder: _append(folder / "qrels" / "test.tsv", "1\t4983\trelevant\n"))
    with pytest.raises(DataFormatError, match="relevance score must be an integer"):
        read_beir_folder(root / "beir" / "scifact", "test")


def test_missing_split_file(data_root):
    with pytest.raises(DataNotFoundError, match="lacks qrels/dev.tsv"):
        read_beir_folder(data_root / "beir" / "scifact", "dev")
