from pathlib import Path

import pytest

from hyperret_eval.core.errors import DataFormatError
from hyperret_eval.data.sts import read_semeval_all, read_semeval_folder, read_sick, read_stsb_csv

# Scored pairs per year, from the data README (SemEval test sets, English).
EXPECTED_PAIRS = {"STS12": 3108, "STS13": 1500, "STS14": 3750, "STS15": 3000, "STS16": 1186}


@pytest.mark.parametrize("year", sorted(EXPECTED_PAIRS))
@pytest.mark.parametrize("layout", ["original", "senteval"])
def test_semeval_pair_counts_in_both_layouts(data_root, year, layout):
    folder = data_root / "sts" / ("original/" + year if layout == "original" else f"{year}-en-test")
    pairs = read_semeval_all(folder)
    assert len(pairs) == EXPECTED_PAIRS[year]
    assert len(pairs.sentence1) == len(pairs.sentence2) == len(pairs.scores)
    assert all(0.0 <= s <= 5.0 for s in pairs.scores)


def test_sts16_original_file_names_and_unscored_pairs(data_root):
    subsets = read_semeval_folder(data_root / "sts" / "original" / "STS16")
    assert sorted(subsets) == ["answer-answer", "headlines", "plagiarism", "postediting", "question-question"]
    # STS2016.input.headlines.txt has 1498 lines, of which 249 carry a gold score.
    assert len(subsets["headlines"]) == 249


def test_layouts_differ_in_text_but_agree_in_gold(data_root):
    original = read_semeval_all(data_root / "sts" / "original" / "STS12")
    senteval = read_semeval_all(data_root / "sts" / "STS12-en-test")
    assert original.scores == senteval.scores
    assert original.sentence1 != senteval.sentence1  # SentEval's copy is lower-cased and tokenized


def test_stsb_and_sick_counts(data_root):
    assert len(read_stsb_csv(data_root / "sts/original/STSBenchmark/sts-test.csv")) == 1379
    assert len(read_stsb_csv(data_root / "sts/STSBenchmark/sts-test.csv")) == 1379
    sick = data_root / "sts" / "SICK"
    assert len(read_sick([sick / "SICK_test_annotated.txt"])) == 4927
    assert len(read_sick([sick / f for f in ("SICK_train.txt", "SICK_trial.txt", "SICK_test_annotated.txt")])) == 9927


def _write_subset(folder: Path, inputs: list[str], golds: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "STS.input.toy.txt").write_text("\n".join(inputs) + "\n", encoding="utf-8")
    (folder / "STS.gs.toy.txt").write_text("\n".join(golds) + "\n", encoding="utf-8")
    return folder


def test_empty_gold_line_skips_the_pair(tmp_path):
    folder = _write_subset(tmp_path, ["a\tb", "c\td", "e\tf"], ["1.0", "", "4.5"])
    pairs = read_semeval_all(folder)
    assert pairs.sentence1 == ["a", "e"]
    assert pairs.scores == [1.0, 4.5]


def test_bad_gold_score_names_file_and_line(tmp_path):
    folder = _write_subset(tmp_path, ["a\tb", "c\td"], ["1.0", "high"])
    with pytest.raises(DataFormatError) as err:
        read_semeval_all(folder)
    assert err.value.line == 2
    assert "STS.gs.toy.txt, line 2" in str(err.value)


def test_input_without_tab_names_file_and_line(tmp_path):
    folder = _write_subset(tmp_path, ["a\tb", "just one sentence"], ["1.0", "2.0"])
    with pytest.raises(DataFormatError, match=r"STS.input.toy.txt, line 2: expected two tab-separated"):
        read_semeval_all(folder)


def test_line_count_mismatch_is_reported(tmp_path):
    folder = _write_subset(tmp_path, ["a\tb", "c\td"], ["1.0"])
    with pytest.raises(DataFormatError, match="has 1 lines but STS.input.toy.txt has 2"):
        read_semeval_all(folder)


def test_sick_header_must_name_columns(tmp_path):
    bad = tmp_path / "SICK_bad.txt"
    bad.write_text("pair_ID\tA\tB\tscore\n1\tx\ty\t3.0\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 1: header lacks column"):
        read_sick([bad])


def test_invalid_utf8_is_reported_with_line(tmp_path):
    bad = tmp_path / "sts-test.csv"
    bad.write_bytes(b"g\tf\t2012\t1\t2.0\ta\tb\ng\tf\t2012\t2\t3.0\t\xff\tb\n")
    with pytest.raises(DataFormatError, match="line 2: not valid UTF-8"):
        read_stsb_csv(bad)


@pytest.mark.parametrize("score", ["nan", "inf", "-Infinity"])
def test_non_finite_gold_score_is_rejected(tmp_path, score):
    folder = _write_subset(tmp_path, ["a\tb", "c\td"], ["1.0", score])
    with pytest.raises(DataFormatError, match=rf"STS.gs.toy.txt, line 2: expected a similarity score, found '{score}'"):
        read_semeval_all(folder)


@pytest.mark.parametrize("golds", [[], ["", ""]], ids=["empty files", "every pair unscored"])
def test_subset_without_scored_pairs(tmp_path, golds):
    folder = _write_subset(tmp_path, ["a\tb", "c\td"][: len(golds)], golds)
    with pytest.raises(DataFormatError, match="STS.gs.toy.txt: holds no scored sentence pairs"):
        read_semeval_all(folder)


def test_empty_stsb_and_sick_files(tmp_path):
    (tmp_path / "sts-test.csv").write_text("\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="sts-test.csv: holds no scored sentence pairs"):
        read_stsb_csv(tmp_path / "sts-test.csv")
    full, empty = tmp_path / "SICK_a.txt", tmp_path / "SICK_b.txt"
    header = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\n"
    full.write_text(header + "1\tx\ty\t3.0\n", encoding="utf-8")
    empty.write_text(header, encoding="utf-8")
    assert len(read_sick([full])) == 1
    with pytest.raises(DataFormatError, match="SICK_b.txt: holds no scored sentence pairs"):
        read_sick([full, empty])


def test_sick_header_with_byte_order_mark(tmp_path):
    path = tmp_path / "SICK_bom.txt"
    path.write_bytes(b"\xef\xbb\xbfsentence_A\tsentence_B\trelatedness_score\nx\ty\t4.5\n")
    assert read_sick([path]).scores == [4.5]
