import json

import pytest

from hyperret_eval.core.errors import DataFormatError, DataNotFoundError
from hyperret_eval.data.beir import read_beir_folder


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
    return path.read_bytes().count(b"\n")


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


def _first_line(path):
    return path.read_text(encoding="utf-8").splitlines()[0]


def test_duplicate_query_id(broken_beir_root):
    root = broken_beir_root(lambda folder: _append(folder / "queries.jsonl", _first_line(folder / "queries.jsonl") + "\n"))
    queries = root / "beir/scifact/queries.jsonl"
    with pytest.raises(DataFormatError, match=r"duplicate _id .* \(first on line 1\)") as err:
        read_beir_folder(root / "beir" / "scifact", "test")
    assert (err.value.path, err.value.line) == (queries, _line_count(queries))


def test_a_pair_judged_twice_names_both_lines(broken_beir_root):
    root = broken_beir_root(lambda folder: _append(folder / "qrels" / "test.tsv",
                                                   (folder / "qrels" / "test.tsv").read_text().splitlines()[1] + "\n"))
    qrels = root / "beir/scifact/qrels/test.tsv"
    with pytest.raises(DataFormatError, match=r"judged twice \(first on line 2\)") as err:
        read_beir_folder(root / "beir" / "scifact", "test")
    assert (err.value.path, err.value.line) == (qrels, _line_count(qrels))


@pytest.mark.parametrize("name, what", [("corpus.jsonl", "documents"), ("queries.jsonl", "queries")])
def test_empty_corpus_or_query_file(broken_beir_root, name, what):
    root = broken_beir_root(lambda folder: (folder / name).write_text("\n", encoding="utf-8"))
    with pytest.raises(DataFormatError, match=f"{name}: holds no {what}") as err:
        read_beir_folder(root / "beir" / "scifact", "test")
    assert err.value.line is None


def test_qrels_with_only_a_header(broken_beir_root):
    root = broken_beir_root(lambda folder: (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"))
    with pytest.raises(DataFormatError, match="test.tsv: holds no judgements"):
        read_beir_folder(root / "beir" / "scifact", "test")


def test_qrels_line_with_two_columns(broken_beir_root):
    root = broken_beir_root(lambda folder: _append(folder / "qrels" / "test.tsv", "1\t4983\n"))
    with pytest.raises(DataFormatError, match="expected 3 tab-separated columns .* found 2") as err:
        read_beir_folder(root / "beir" / "scifact", "test")
    assert err.value.line == _line_count(root / "beir/scifact/qrels/test.tsv")


@pytest.mark.parametrize("record, problem", [
    ('{"_id": "x", "text": null}', "field 'text' must be a string, found null"),
    ('{"_id": "x", "text": "t", "title": 3}', "field 'title' must be a string, found 3"),
    ('{"_id": ["x"], "text": "t"}', '_id must be a non-empty string, found ["x"]'),
    ('{"_id": true, "text": "t"}', "_id must be a non-empty string, found true"),
    ('{"_id": "", "text": "t"}', '_id must be a non-empty string, found ""'),
    ('["_id", "text"]', "expected a JSON object"),
    ("[" * 100_000, "not valid JSON (nested too deeply)"),
    ('{"_id": ' + "7" * 5000 + ', "text": "t"}', "not valid JSON (Exceeds the limit"),
])
@pytest.mark.slow
def test_ill_typed_corpus_record_names_file_and_line(broken_beir_root, record, problem):
    root = broken_beir_root(lambda folder: _append(folder / "corpus.jsonl", record + "\n"))
    corpus = root / "beir/scifact/corpus.jsonl"
    with pytest.raises(DataFormatError) as err:
        read_beir_folder(root / "beir" / "scifact", "test")
    assert (err.value.path, err.value.line) == (corpus, _line_count(corpus))
    assert err.value.problem.startswith(problem)


def test_integer_ids_and_null_titles_are_accepted(tmp_path):
    folder = tmp_path / "toy"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": 7, "title": null, "text": "seven"}\n', encoding="utf-8")
    (folder / "queries.jsonl").write_text('{"_id": 1, "text": "which number?"}\n', encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\t7\t1\n", encoding="utf-8")
    data = read_beir_folder(folder, "test")
    assert data.corpus == {"7": {"title": "", "text": "seven"}}
    assert data.qrels == {"1": {"7": 1}}


def test_byte_order_mark_is_ignored(broken_beir_root):
    """Files saved by Windows editors start with a BOM: the header and first record still read."""
    def add_bom(folder):
        for path in (folder / "corpus.jsonl", folder / "qrels" / "test.tsv"):
            path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    root = broken_beir_root(add_bom)
    data = read_beir_folder(root / "beir" / "scifact", "test")
    first = json.loads((root / "beir/scifact/corpus.jsonl").read_text(encoding="utf-8-sig").splitlines()[0])["_id"]
    assert first in data.corpus
    assert sum(len(docs) for docs in data.qrels.values()) == _line_count(root / "beir/scifact/qrels/test.tsv") - 1


def test_invalid_utf8_in_queries_names_file_and_line(broken_beir_root):
    root = broken_beir_root(lambda folder: open(folder / "queries.jsonl", "ab").write(b'{"_id": "q", "text": "caf\xe9"}\n'))
    queries = root / "beir/scifact/queries.jsonl"
    with pytest.raises(DataFormatError, match="not valid UTF-8") as err:
        read_beir_folder(root / "beir" / "scifact", "test")
    assert (err.value.path, err.value.line) == (queries, _line_count(queries))
