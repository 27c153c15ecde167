"""Training data in the format of the paper's MS MARCO training set: read line by line
from an offset index, negatives drawn per step, teacher scores kept, bad lines named; and
the paper's recipe file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hyperret_eval.core.errors import DataFormatError, DataNotFoundError
from hyperret_eval.data.training_examples import ScoredItems

REPO = Path(__file__).resolve().parents[1]
PAPER_RECIPE = REPO / "benchmarks" / "recipes" / "hypencoder-msmarco-paper.toml"
TOPICS = ["protein folding", "vitamin d", "sleep apnea", "gene editing", "malaria", "insulin"]


def _record(i: int, topic: str) -> dict:
    items = [{"content": f"a study of {topic}", "score": 9.0, "id": f"p{i}"}]
    items += [{"content": f"a note on {other}", "score": float(-j), "id": f"n{i}-{j}"}
              for j, other in enumerate(t for t in TOPICS if t != topic)]
    return {"query": {"content": f"what causes {topic}?", "id": f"q{i}"}, "items": items}


@pytest.fixture
def scored_file(tmp_path) -> Path:
    path = tmp_path / "train.jsonl"
    lines = [json.dumps(_record(i, t)) for i, t in enumerate(TOPICS)]
    lines.insert(2, "")  # a blank line is skipped, and line numbers still count it
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_examples_are_read_by_offset_with_the_first_item_as_positive(scored_file):
    items = ScoredItems(scored_file, show_progress=False)
    assert len(items) == len(TOPICS)
    example = items.example(4, negatives=3, rng=np.random.default_rng(0))
    assert example.query == "what causes malaria?" and example.query_id == "q4"
    assert example.positive == "a study of malaria" and example.positive_id == "p4"
    assert len(example.negatives) == 3 and "a study of malaria" not in example.negatives
    assert example.teacher_scores[0] == 9.0 and all(s <= 0 for s in example.teacher_scores[1:])
    again = items.example(4, negatives=3, rng=np.random.default_rng(0))
    assert again == example, "the same generator draws the same negatives"
    other = {items.example(4, 3, np.random.default_rng(seed)).negative_ids for seed in range(8)}
    assert len(other) > 1, "negatives are drawn afresh, not fixed"


def test_a_folder_of_files_and_token_ids(tmp_path):
    (tmp_path / "data").mkdir()
    for part in range(2):
        record = _record(part, TOPICS[part])
        record["query"] = {"tokenized_content": [101, 2054 + part, 102]}
        (tmp_path / "data" / f"train_{part}.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    items = ScoredItems(tmp_path / "data", show_progress=False)
    assert len(items) == 2
    assert items.example(1, 1, np.random.default_rng(0)).query == (101, 2055, 102)


@pytest.mark.parametrize(("line", "problem"), [
    ("{not json", "not a JSON object"),
    ('{"query": {"content": "q"}, "items": [{"content": "p", "score": 1}]}', "need the positive and 2 negatives"),
    ('{"query": {"content": "q"}, "items": [{"content": "p", "score": 1}, {"content": "a"}, {"content": "b"}]}',
     "finite numeric"),
    ('{"query": {"text": "q"}, "items": [{"content": "p"}, {"content": "a"}, {"content": "b"}]}', "query needs"),
    ('{"query": {"content": "q"}, "items": [{"content": "p"}, {"tokenized_content": [-1]}, {"content": "b"}]}',
     r"items\[\d\] needs"),
])
def test_a_bad_line_is_named_with_its_file_and_number(line, problem, scored_file):
    text = scored_file.read_text(encoding="utf-8").splitlines()
    text[4] = line
    scored_file.write_text("\n".join(text) + "\n", encoding="utf-8")
    items = ScoredItems(scored_file, show_progress=False)
    with pytest.raises(DataFormatError, match=rf"train.jsonl, line 5: .*{problem}"):
        items.example(3, negatives=2, rng=np.random.default_rng(0))
    items.example(0, negatives=2, rng=np.random.default_rng(0))  # other lines still read


@pytest.mark.slow
def test_paper_recipe_file(tmp_path, scored_file):
    """The shipped recipe has the paper's settings, names its data when it is missing, and
    trains (cut down to MiniLM and two steps) on a file in the paper's format, with
    margin-MSE from the items' scores."""
    from hyperret_eval.catalogue.recipe_files import recipe_by_name_or_file
    from hyperret_eval.models.hypencoder.train import train_retrieval

    paper = recipe_by_name_or_file(str(PAPER_RECIPE))
    assert (paper.qnet_layers, paper.batch_size, paper.negatives, paper.learning_rate, paper.warmup_steps) == (
        6, 64, 7, 2e-5, 6000)
    assert (paper.init, paper.lr_schedule, paper.cross_entropy_candidates, paper.passage_pooling) == (
        "reference", "constant_with_warmup", "positives", "cls")
    assert paper.head_learning_rate is None and paper.weight_decay == 0.0
    assert Path(paper.training_file) == PAPER_RECIPE.parent / "hypencoder-msmarco-training-dataset"
    with pytest.raises(DataNotFoundError, match="hypencoder-msmarco-training-dataset"):
        paper.training_files(None)

    small = dataclasses.replace(paper, backbone="minilm", qnet_layers=1, batch_size=2, negatives=2, max_steps=2,
                                save_every=2, warmup_steps=1, max_length=64, training_file=str(scored_file))
    assert small.training_files(None) == [scored_file]
    result = train_retrieval(small, tmp_path / "paper", None)
    assert [h["step"] for h in result.history] == [1, 2]
    assert all(h["margin_mse"] > 0 and h["cross_entropy"] > 0 for h in result.history)
