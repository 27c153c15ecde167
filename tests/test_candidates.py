"""Candidate lists (mteb's ``top_ranked``): every search model of ours ranks each query's
given candidates and nothing else, scoring them as its full search would, and mteb's
evaluation of a task that has them sees only those passages."""

from __future__ import annotations

import datasets
import mteb
import pytest
import torch
from mteb.models.search_wrappers import SearchEncoderWrapper

from hyperret_eval.core.errors import UserError
from hyperret_eval.integrations.mteb_dense import CachedDenseSearch
from hyperret_eval.integrations.mteb_search import HypencoderMTEBSearch
from hyperret_eval.models.hypencoder import Hypencoder
from hyperret_eval.search.candidates import rerank
from tests.conftest import official_hypencoder

TOPICS = ["protein folding", "vitamin d", "sleep apnea", "gene editing", "malaria", "insulin"]
DOC_IDS = [f"d{i}" for i in range(18)]
TEXTS = [f"A study of {TOPICS[i % 6]} in cohort {i}" for i in range(18)]
QUERIES = {"q0": "what causes malaria?", "q1": "does vitamin d help?", "q2": "gene editing ethics"}
# q0's list leaves out the malaria passages a full search ranks first; q2 has no list.
CANDIDATES = {"q0": ["d1", "d7", "d2", "d13"], "q1": ["d0", "d3", "d5", "d9", "d11", "d15", "d17"]}
WHERE = {"hf_split": "test", "hf_subset": "default"}


def corpus() -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": DOC_IDS, "title": [""] * len(DOC_IDS), "text": TEXTS})


def queries() -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": list(QUERIES), "text": list(QUERIES.values())})


@pytest.fixture(scope="module")
def metadata():
    return mteb.get_task("SciFact").metadata


def test_rerank_keeps_only_candidates_best_first_ties_to_the_lower_position():
    scores = torch.tensor([5.0, 1.0, 3.0, 3.0, 9.0])  # one score per corpus position
    run = rerank(lambda row, positions: scores[positions], ["a", "b"], ["x0", "x1", "x2", "x3", "x4"],
                 {"a": ["x3", "x1", "x2", "x3"]}, k=2)
    assert run == {"a": {"x2": 3.0, "x3": 3.0}, "b": {}}
    assert list(run["a"]) == ["x2", "x3"], "a tie goes to the lower corpus position, repeats count once"


def test_a_candidate_outside_the_corpus_is_named():
    with pytest.raises(UserError, match="'q'.*'ghost'"):
        rerank(lambda row, positions: positions.float(), ["q"], ["x0"], {"q": ["x0", "ghost"]}, k=5)


@pytest.mark.slow
def test_dense_search_reranks_as_mteb_does(minilm, metadata, tmp_path):
    ours = CachedDenseSearch(minilm, cache_dir=tmp_path)
    ours.index(corpus(), task_metadata=metadata, encode_kwargs={"show_progress_bar": False}, **WHERE)
    got = ours.search(queries(), task_metadata=metadata, top_k=3, encode_kwargs={"show_progress_bar": False},
                      top_ranked=CANDIDATES, **WHERE)
    theirs = SearchEncoderWrapper(minilm)
    theirs.index(corpus(), task_metadata=metadata, encode_kwargs={"show_progress_bar": False}, **WHERE)
    expected = theirs.search(queries(), task_metadata=metadata, top_k=3, encode_kwargs={"show_progress_bar": False},
                             top_ranked=CANDIDATES, **WHERE)
    assert set(got) == set(QUERIES) and got["q2"] == {}
    for query_id in CANDIDATES:
        assert set(got[query_id]) <= set(CANDIDATES[query_id]) and len(got[query_id]) == 3
        assert list(got[query_id]) == sorted(expected[query_id], key=lambda d: -expected[query_id][d])
        for doc_id, score in got[query_id].items():
            assert score == pytest.approx(expected[query_id][doc_id], abs=1e-5)


@pytest.fixture(scope="module")
def hypencoder() -> Hypencoder:
    return Hypencoder.from_pretrained(official_hypencoder()).eval()


@pytest.mark.parametrize("method", ["exhaustive", "graph"])
def test_hypencoder_scores_only_the_candidates_as_its_full_search_scores_them(hypencoder, metadata, tmp_path, method):
    from hyperret_eval.search.settings import SearchSettings

    settings = SearchSettings(method=method, degree=4, entry_points=4, graph_dir=tmp_path / "graphs")
    search = HypencoderMTEBSearch(hypencoder, mteb_model_meta=None, batch_size=8, settings=settings,
                                  cache_dir=tmp_path / "passages")
    search.index(corpus(), task_metadata=metadata, encode_kwargs={"show_progress_bar": False}, **WHERE)
    kwargs = {"task_metadata": metadata, "encode_kwargs": {"show_progress_bar": False}, **WHERE}
    full = HypencoderMTEBSearch(hypencoder, mteb_model_meta=None, batch_size=8, cache_dir=tmp_path / "passages")
    full.index(corpus(), task_metadata=metadata, encode_kwargs={"show_progress_bar": False}, **WHERE)
    everything = full.search(queries(), top_k=len(DOC_IDS), **kwargs)
    got = search.search(queries(), top_k=3, top_ranked=CANDIDATES, **kwargs)
    assert got["q2"] == {}
    for query_id, candidates in CANDIDATES.items():
        expected = sorted(set(candidates), key=lambda d: (-everything[query_id][d], DOC_IDS.index(d)))[:3]
        assert list(got[query_id]) == expected
        for doc_id in expected:
            assert got[query_id][doc_id] == pytest.approx(everything[query_id][doc_id], abs=1e-5)
    assert set(got["q0"]) != set(list(everything["q0"])[:3]), "the candidates are not the full search's best"


@pytest.mark.slow
def test_mteb_evaluation_of_a_task_with_candidates_sees_only_them(hypencoder, tmp_path):
    """Through ``mteb.evaluate``: a run ranks nothing outside the task's candidate lists."""
    from hyperret_eval.catalogue.tasks import TaskSpec
    from hyperret_eval.data.beir import RetrievalData
    from hyperret_eval.data.sources import Source
    from hyperret_eval.integrations.mteb_tasks import build_task

    qrels = {"q0": {"d4": 1, "d7": 1}, "q1": {"d1": 1, "d3": 1}}
    data = RetrievalData({d: {"title": "", "text": t} for d, t in zip(DOC_IDS, TEXTS)},
                         {q: QUERIES[q] for q in qrels}, qrels, [])
    spec = TaskSpec(name="CandidateTask", type="Retrieval", groups=(), split="test", main_score="ndcg_at_10",
                    description="a small task with candidate lists", source=Source(format="beir", path="x"))
    task = build_task(spec, data, "local", "rev")
    task.load_data()
    task.dataset["default"]["test"]["top_ranked"] = {"q0": ["d7", "d1"], "q1": ["d3", "d9", "d5"]}

    seen: dict[str, dict] = {}
    search = HypencoderMTEBSearch(hypencoder, mteb_model_meta=None, batch_size=8, cache_dir=tmp_path)
    inner = search.search

    def recording(*args, **kwargs):
        seen.update(inner(*args, **kwargs))
        return seen

    search.search = recording
    task.evaluate(search, "test", encode_kwargs={"batch_size": 8, "show_progress_bar": False})
    assert set(seen["q0"]) == {"d7", "d1"} and set(seen["q1"]) == {"d3", "d9", "d5"}
