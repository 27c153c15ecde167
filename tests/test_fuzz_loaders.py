"""Fuzzing the data loaders with hypothesis: whatever bytes a file holds, a loader returns
well-formed data or raises the project's own error (a DataFormatError naming the file, or
another UserError), never anything else; and any valid dataset reads back exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hyperret_eval.core.errors import DataFormatError, UserError
from hyperret_eval.data.beir import read_beir_folder, read_corpus, read_qrels, read_queries
from hyperret_eval.data.sts import read_semeval_folder, read_sick, read_stsb_csv

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Lines that are nearly right are the interesting ones: JSON values of every shape, rows of
# tab-separated cells (numbers, names, words), invalid UTF-8, a BOM, Windows line ends.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["_id", "text", "title", "x"]), inner,
                                                                max_size=4),
    max_leaves=8,
)
cells = st.one_of(st.sampled_from(["query-id", "corpus-id", "score", "sentence_A", "sentence_B",
                                   "relatedness_score", "1", "0", "-2", "3.5", "nan", "inf", "", " "]),
                  st.integers(-5, 5).map(str), st.text(max_size=6))
records = st.fixed_dictionaries(
    {"_id": st.text(max_size=4) | st.integers() | json_values, "text": st.text(max_size=8) | json_values},
    optional={"title": st.none() | st.text(max_size=8) | json_values},
)
rows = st.lists(cells, max_size=8) | st.lists(cells, min_size=7, max_size=7) | st.just(
    ["sentence_A", "sentence_B", "relatedness_score"])
lines = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    records.map(lambda r: json.dumps(r).encode()),
    rows.map(lambda row: "\t".join(row).encode()),
    st.binary(max_size=20),
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"{", b"\r", b"[" * 3000]),
)
files = st.lists(lines, max_size=12).map(lambda ls: b"\n".join(ls)) | st.binary(max_size=200)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _loads_or_fails_cleanly(load, path: Path):
    """What ``load()`` returns, or None when it raised one of the project's errors about ``path``."""
    try:
        loaded = load()
    except DataFormatError as exc:
        assert exc.path == path and str(exc).startswith(str(path))
        assert exc.line is None or exc.line >= 1
        event(f"rejected: {exc.problem[:20]}")  # --hypothesis-show-statistics: what was tried
    except UserError as exc:
        assert str(path) in str(exc)
        event("rejected: other")
    else:
        event("loaded")
        return loaded
    return None


@pytest.mark.slow
@pytest.mark.parametrize("reader", [read_corpus, read_queries])
@FUZZ
@given(data=files)
def test_jsonl_readers(tmp_path, reader, data):
    path = _write(tmp_path / "file.jsonl", data)
    loaded = _loads_or_fails_cleanly(lambda: reader(path), path)
    if loaded is not None:
        assert loaded and all(isinstance(k, str) and k for k in loaded)
        values = loaded.values() if reader is read_queries else (d["text"] for d in loaded.values())
        assert all(isinstance(v, str) for v in values)


@pytest.mark.slow
@FUZZ
@given(data=files)
def test_qrels_reader(tmp_path, data):
    path = _write(tmp_path / "test.tsv", data)
    loaded = _loads_or_fails_cleanly(lambda: read_qrels(path), path)
    if loaded is not None:
        qrels, where = loaded
        assert all(isinstance(g, int) for docs in qrels.values() for g in docs.values())
        assert len(where) == sum(len(docs) for docs in qrels.values())


@pytest.mark.slow
@FUZZ
@given(corpus=files, queries=files, qrels=files)
def test_beir_folder(tmp_path, corpus, queries, qrels):
    folder = tmp_path / "beir"
    for name, data in (("corpus.jsonl", corpus), ("queries.jsonl", queries), ("qrels/test.tsv", qrels)):
        _write(folder / name, data)
    try:
        data = read_beir_folder(folder, "test")
    except DataFormatError as exc:
        assert exc.path.parent in (folder, folder / "qrels")
    else:
        assert set(data.queries) == set(data.qrels)
        assert all(doc in data.corpus for docs in data.qrels.values() for doc in docs)


def _check_pairs(pairs) -> None:
    assert len(pairs) > 0
    assert len(pairs.sentence1) == len(pairs.sentence2) == len(pairs.scores)
    assert all(math.isfinite(s) for s in pairs.scores)


@pytest.mark.slow
@FUZZ
@given(inputs=files, golds=files)
def test_semeval_folder(tmp_path, inputs, golds):
    folder = tmp_path / "STS12"
    _write(folder / "STS.input.toy.txt", inputs)
    _write(folder / "STS.gs.toy.txt", golds)
    try:
        subsets = read_semeval_folder(folder)
    except DataFormatError as exc:
        assert exc.path.parent == folder
    else:
        _check_pairs(subsets["toy"])


@pytest.mark.slow
@pytest.mark.parametrize("reader", [read_stsb_csv, lambda path: read_sick([path])], ids=["stsb", "sick"])
@FUZZ
@given(data=files)
def test_sts_file_readers(tmp_path, reader, data):
    path = _write(tmp_path / "sts.txt", data)
    loaded = _loads_or_fails_cleanly(lambda: reader(path), path)
    if loaded is not None:
        _check_pairs(loaded)


# Valid datasets of any shape read back as written.
ids = st.one_of(st.integers(0, 10**6),
                st.text(min_size=1, max_size=8).filter(lambda s: s.strip() == s and not {"\t", "\n", "\r"} & set(s)))
texts = st.text(max_size=20)


@pytest.mark.slow
@FUZZ
@given(docs=st.dictionaries(ids.map(str), st.tuples(st.none() | texts, texts), min_size=1, max_size=6),
       queries=st.dictionaries(ids.map(str), texts, min_size=1, max_size=6),
       data=st.data())
def test_any_valid_beir_folder_reads_back_exactly(tmp_path, docs, queries, data):
    judged = {qid: data.draw(st.dictionaries(st.sampled_from(sorted(docs)), st.integers(0, 3), min_size=1))
              for qid in data.draw(st.lists(st.sampled_from(sorted(queries)), min_size=1, unique=True))}
    folder = tmp_path / "valid"
    _write(folder / "corpus.jsonl", "".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n"
                                            for d, (t, x) in docs.items()).encode())
    _write(folder / "queries.jsonl", "".join(json.dumps({"_id": q, "text": x}) + "\r\n" for q, x in queries.items()).encode())
    _write(folder / "qrels/test.tsv", ("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{g}\n" for q, judged_docs in judged.items() for d, g in judged_docs.items())).encode())

    read = read_beir_folder(folder, "test")
    assert read.corpus == {d: {"title": t or "", "text": x} for d, (t, x) in docs.items()}
    assert read.queries == {q: queries[q] for q in judged}
    assert read.qrels == judged


sentences = st.text(st.characters(blacklist_characters="\t\n\r\ufeff", blacklist_categories=["Cs"]), max_size=12)


@pytest.mark.slow
@FUZZ
@given(pairs=st.lists(st.tuples(sentences, sentences, st.none() | st.floats(0, 5)), min_size=1, max_size=8)
       .filter(lambda ps: any(score is not None for *_, score in ps)))
def test_any_valid_semeval_subset_reads_back_exactly(tmp_path, pairs):
    folder = tmp_path / "STS12"
    _write(folder / "STS.input.toy.txt", "".join(f"{a}\t{b}\n" for a, b, _ in pairs).encode())
    _write(folder / "STS.gs.toy.txt", "".join(f"{'' if s is None else repr(s)}\n" for *_, s in pairs).encode())
    read = read_semeval_folder(folder)["toy"]
    scored = [(a, b, s) for a, b, s in pairs if s is not None]
    assert list(zip(read.sentence1, read.sentence2, read.scores)) == scored
