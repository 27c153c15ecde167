"""TREC run and qrels lines: ranks from 1 in score order, ties in document-id order, and
ids that would split a line refused."""

from __future__ import annotations

import pytest

from hyperret_eval.core.errors import UserError
from hyperret_eval.data.trec_runs import trec_qrels_lines, trec_run_lines


def test_run_lines_rank_from_one_in_score_order_ties_by_document_id():
    lines = list(trec_run_lines({"q1": {"b": 0.5, "a": 0.5, "c": 0.9}, "q2": {"d": -1.0}}, "tag"))
    assert lines == ["q1 Q0 c 1 0.9 tag\n", "q1 Q0 a 2 0.5 tag\n", "q1 Q0 b 3 0.5 tag\n", "q2 Q0 d 1 -1.0 tag\n"]
    assert list(trec_run_lines({"q1": {"b": 0.5, "a": 0.5, "c": 0.9}}, "tag", top_k=1)) == ["q1 Q0 c 1 0.9 tag\n"]


def test_qrels_lines_have_no_header():
    assert list(trec_qrels_lines({"q1": {"d1": 2, "d2": 0}})) == ["q1 0 d1 2\n", "q1 0 d2 0\n"]


@pytest.mark.parametrize("ranking, tag", [({"q 1": {"d": 1.0}}, "t"), ({"q": {"d\t2": 1.0}}, "t"),
                                          ({"q": {"d": 1.0}}, "my run")])
def test_a_field_with_whitespace_is_refused(ranking, tag):
    with pytest.raises(UserError, match="cannot be written to a TREC file"):
        list(trec_run_lines(ranking, tag))
