"""TREC-DL 2019 and 2020 under mteb's names, read from the layouts the catalogue gives
them (BEIR's msmarco folder; TREC's own 2020 files over the same corpus), scored as
mteb's own TRECDL2019 and TRECDL2020 tasks score the same data, with the binary measures
counting grades 2 and 3 only."""

from __future__ import annotations

import json
from pathlib import Path

import ir_measures
import mteb
import pytest
from datasets import Dataset

from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.cli import main
from hyperret_eval.core.errors import DataFormatError
from hyperret_eval.data import sources
from hyperret_eval.data.trec import read_topics, read_trec_qrels
from hyperret_eval.evaluation.results import PREDICTIONS_FOLDER

from .beir_folders import mteb_hub_dataset

QUERIES_PER_YEAR = 5
JUDGED_PER_QUERY = 24
DISTRACTORS = 80


def _subset(data_root: Path):
    """The 43 judged TREC-DL 2019 queries, their judgements and the passages, from the
    shared 5,000-passage subset (real MS MARCO text and real graded judgements)."""
    folder = data_root / "beir" / "trec-dl-2019-subset"
    queries = {(r := json.loads(line))["_id"]: r["text"]
               for line in (folder / "queries.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()}
    corpus = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").split("\n")
              if line.strip()]
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, did, grade = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(grade)
    return queries, corpus, qrels


def _judged_cut(qrels: dict[str, int]) -> dict[str, int]:
    """A few judgements of every grade the query has, graded ones first."""
    by_grade = sorted(qrels.items(), key=lambda kv: (-kv[1], kv[0]))
    grades = sorted(set(qrels.values()), reverse=True)
    kept = {}
    for grade in grades:
        kept.update(dict([kv for kv in by_grade if kv[1] == grade][: JUDGED_PER_QUERY // len(grades)]))
    return kept


@pytest.fixture(scope="module")
def trec_root(data_root, tmp_path_factory):
    """A data root in the catalogue's layouts: ``beir/msmarco`` (corpus, queries, the
    2019 judgements as ``qrels/test.tsv``) and ``trec-dl-2020`` (a topics TSV naming one
    unjudged query too, and TREC qrels), the two years drawing on different queries of the
    subset. Returns the root and what each year holds."""
    queries, corpus, qrels = _subset(data_root)
    ids = sorted(qrels)
    years = {"TRECDL2019": ids[:QUERIES_PER_YEAR], "TRECDL2020": ids[QUERIES_PER_YEAR:2 * QUERIES_PER_YEAR]}
    judged = {name: {q: _judged_cut(qrels[q]) for q in qs} for name, qs in years.items()}
    wanted = {d for year in judged.values() for q in year.values() for d in q}
    docs = [doc for doc in corpus if doc["_id"] in wanted]
    docs += [doc for doc in corpus if doc["_id"] not in wanted][:DISTRACTORS]
    root = tmp_path_factory.mktemp("trec-root")
    msmarco = root / "beir" / "msmarco"
    (msmarco / "qrels").mkdir(parents=True)
    (msmarco / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    (msmarco / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in ids), encoding="utf-8")
    (msmarco / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, ds in judged["TRECDL2019"].items()
                                                 for d, g in ds.items()), encoding="utf-8")
    trec = root / "trec-dl-2020"
    trec.mkdir()
    unjudged = ids[-1]
    (trec / "msmarco-test2020-queries.tsv").write_text(
        "".join(f"{q}\t{queries[q]}\n" for q in [*years["TRECDL2020"], unjudged]), encoding="utf-8")
    (trec / "2020qrels-pass.txt").write_text(
        "".join(f"{q} 0 {d} {g}\n" for q, ds in judged["TRECDL2020"].items() for d, g in ds.items()),
        encoding="utf-8")
    return root, {"docs": docs, "queries": queries, "judged": judged}


def _mteb_reference(name: str, docs, queries, judged):
    """mteb's own task class, fed the data as mteb's loader hands it over."""
    task = mteb.get_task(name)
    corpus = Dataset.from_dict({"id": [d["_id"] for d in docs], "title": [d.get("title") or "" for d in docs],
                                "text": [d["text"] for d in docs]})
    query_ids = list(judged)
    task.dataset = {"default": {"test": {
        "corpus": corpus,
        "queries": Dataset.from_dict({"id": query_ids, "text": [queries[q] for q in query_ids]}),
        "relevant_docs": judged, "top_ranked": None}}}
    task.data_loaded = True
    return task


@pytest.mark.slow
def test_trec_dl_runs_by_name_and_scores_as_mtebs_own_tasks(trec_root, minilm, tmp_path):
    root, held = trec_root
    out = tmp_path / "results"
    code = main(["run", "--tasks", "TRECDL2019,TRECDL2020", "--models", "minilm", "--data-root", str(root),
                 "--output-dir", str(out), "--device", "cpu", "--save-predictions"])
    assert code == 0
    folder = next(out.glob("sentence-transformers__all-MiniLM-L6-v2/*"))
    for name in ("TRECDL2019", "TRECDL2020"):
        ours = json.loads((folder / f"{name}.json").read_text())["scores"]["test"][0]
        reference = mteb.evaluate(minilm, _mteb_reference(name, held["docs"], held["queries"], held["judged"][name]),
                                  cache=None, overwrite_strategy="always", show_progress_bar=False)
        theirs = reference.task_results[0].scores["test"][0]
        for metric in ("ndcg_at_10", "mrr_at_10", "recall_at_100", "recall_at_1000", "map_at_1000"):
            assert ours[metric] == pytest.approx(theirs[metric], abs=1e-4), (name, metric)
        assert 0.0 < ours["ndcg_at_10"] < 1.0
        # Only the judged queries: the 2020 topics file names one query without judgements.
        per_query = json.loads((folder / "per_query" / f"{name}.json").read_text())
        assert sorted(per_query["queries"]) == sorted(held["judged"][name])
        # The binary measures count grades 2 and 3: ir-measures on the kept run, at rel=2.
        run = json.loads((folder / PREDICTIONS_FOLDER / f"{name}_predictions.json").read_text())["default"]["test"]
        strict = ir_measures.calc_aggregate([ir_measures.RR(rel=2) @ 10, ir_measures.R(rel=2) @ 1000],
                                            held["judged"][name], run)
        assert ours["ir_measures:RR(rel=2)@10"] == pytest.approx(strict[ir_measures.RR(rel=2) @ 10], abs=1e-6)
        assert ours["ir_measures:R(rel=2)@1000"] == pytest.approx(strict[ir_measures.R(rel=2) @ 1000], abs=1e-6)


def test_the_catalogue_reads_each_layout_keeping_only_judged_queries(trec_root):
    root, held = trec_root
    catalogue = load_catalogue()
    for name in ("TRECDL2019", "TRECDL2020"):
        spec = catalogue[name]
        assert spec.metadata_from == name and spec.relevance_threshold == 2 and "Hypencoder-paper" in spec.groups
        data = sources.load(name, spec.source, spec.split, root)
        assert data.qrels == held["judged"][name]
        assert set(data.queries) == set(held["judged"][name])
        assert len(data.corpus) == len(held["docs"])


def test_a_missing_2020_folder_offline_names_the_folder_and_its_files(trec_root, tmp_path, capsys, monkeypatch):
    root, _ = trec_root
    bare = tmp_path / "root"
    (bare / "beir").mkdir(parents=True)
    (bare / "beir" / "msmarco").symlink_to(root / "beir" / "msmarco")
    monkeypatch.setenv("HYPERRET_OFFLINE", "1")
    code = main(["run", "--tasks", "TRECDL2020", "--models", "minilm", "--data-root", str(bare),
                 "--output-dir", str(tmp_path / "out"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bare / "trec-dl-2020") in err
    assert "msmarco-test2020-queries.tsv" in err and "2020qrels-pass.txt" in err
    assert err.count("trec-dl-2020") >= 1 and "Traceback" not in err
    assert not (bare / "trec-dl-2020").exists()


def test_trec_files_with_a_bad_line_are_named_by_file_and_line(tmp_path):
    topics = tmp_path / "topics.tsv"
    topics.write_text("1\tfirst query\n2 no tab here\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"topics\.tsv, line 2: expected a query id, a tab"):
        read_topics(topics)
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("1 0 d1 2\n1 0 d2 high\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"qrels\.txt, line 2: relevance score must be an integer"):
        read_trec_qrels(qrels)
    qrels.write_text("1 0 d1 2\n1 0 d1 3\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 2: query '1' and document 'd1' are judged twice"):
        read_trec_qrels(qrels)


def test_list_tasks_names_where_the_trec_dl_files_go_and_mtebs_counts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line a row
    assert main(["list", "tasks", "--data-root", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in ("TRECDL2019", "TRECDL2020", "DL-Hard"):
        assert name in out
    assert "trec-dl-2020" in out and "8,841,823" in out
    assert "43 judged" in out and "54 judged" in out
    dl_hard = next(line for line in out.split("│ DL-Hard")[1:2])
    assert "dl_hard-passage.qrels" in dl_hard.split("│ ")[5] and "see `run` for how to get it" in dl_hard


@pytest.mark.parametrize("name", ["TRECDL2019", "TRECDL2020", "MSMARCO"])
def test_mtebs_statistics_are_read_where_mteb_keeps_them(name):
    """``list tasks`` reads mteb's statistics without importing mteb: from the file that
    mteb's own metadata reads (this fails, by name, if a release moves it)."""
    from hyperret_eval.integrations.mteb_statistics import split_statistics

    task = mteb.get_task(name)
    split = task.metadata.eval_splits[0]
    assert split_statistics("Retrieval", name, split) == task.metadata.descriptive_stats[split]


def test_missing_2020_files_and_corpus_come_from_mtebs_hub_dataset_and_beirs_zip(
        trec_root, mock_hub, http_folder, tmp_path, capsys):
    """Online, the 2020 queries and judgements come from the hub dataset mteb's TRECDL2020
    evaluates (its corpus files never asked for), written as TREC's files; the corpus from
    BEIR's msmarco zip. Both servers are on loopback."""
    import shutil
    from dataclasses import replace

    from hyperret_eval.evaluation.task_data import load_task_data

    root, held = trec_root
    www, base, zip_requests = http_folder
    shutil.make_archive(str(www / "msmarco"), "zip", root_dir=root / "beir", base_dir="msmarco")
    spec = load_catalogue()["TRECDL2020"]
    spec = replace(spec, source=replace(spec.source, beir_url=f"{base}/msmarco.zip"))
    mock_hub.serve(spec.source.hf_dataset, spec.source.hf_revision,
                   mteb_hub_dataset(tmp_path / "hub", {d["_id"]: d for d in held["docs"]},
                                    {q: held["queries"][q] for q in held["judged"]["TRECDL2020"]},
                                    held["judged"]["TRECDL2020"], split="test"),
                   kind="datasets")
    data_root = tmp_path / "data"

    data = load_task_data(spec, data_root, print)

    # The size warning names where the 8.8M passages go: MS MARCO's corpus folder.
    assert f"documents (mteb's count) to download into {data_root / 'beir' / 'msmarco'}," in capsys.readouterr().out

    assert sorted(p.name for p in (data_root / "trec-dl-2020").iterdir()) == \
        ["2020qrels-pass.txt", "msmarco-test2020-queries.tsv"]
    assert data.qrels == held["judged"]["TRECDL2020"]
    assert data.queries == {q: held["queries"][q] for q in held["judged"]["TRECDL2020"]}
    assert len(data.corpus) == len(held["docs"])
    assert zip_requests == ["/msmarco.zip"]
    fetched = [r for r in mock_hub.requests if "/resolve/" in r]
    assert any("/queries/" in r for r in fetched) and any("/qrels/" in r for r in fetched)
    assert not any("/corpus/" in r for r in fetched), "the corpus was downloaded from the hub"
    assert not [p for p in data_root.rglob(".*") if p.is_dir()], "a staging folder was left behind"


def test_the_papers_suite_gives_hypencoders_the_official_query_lengths():
    """replication_commands.md of jfkback/hypencoder-paper: --query_max_length=512 on the
    BEIR sets, 64 on MS MARCO and TREC-DL."""
    catalogue = load_catalogue()
    suite = {spec.name: spec.query_max_length for spec in catalogue.values() if "Hypencoder-paper" in spec.groups}
    assert suite == {"TRECCOVID": 512, "FiQA2018": 512, "NFCorpus": 512, "DBPedia": 512, "Touche2020": 512,
                     "MSMARCO": 64, "TRECDL2019": 64, "TRECDL2020": 64}


def test_a_tasks_query_length_reaches_the_hypencoders_queries():
    from hyperret_eval.core.world import World
    from hyperret_eval.integrations.mteb_search import HypencoderMTEBSearch
    from hyperret_eval.integrations.mteb_sharded import search_model_for
    from hyperret_eval.models.hypencoder import Hypencoder

    from .conftest import official_hypencoder

    model = Hypencoder.from_pretrained(official_hypencoder())
    long_query = " ".join(["retrieval"] * 300)
    assert model.tokenize([long_query], max_length=8)["input_ids"].shape[1] == 8
    assert model.tokenize([long_query], max_length=10**6)["input_ids"].shape[1] == model.length_limit
    assert model.tokenize([long_query])["input_ids"].shape[1] == model.max_length
    short = model.encode_queries([long_query + " end"], max_length=8)
    full = model.encode_queries([long_query + " end"], max_length=model.length_limit)
    assert not all(a.shape == b.shape and bool((a == b).all()) for a, b in zip(short.weights, full.weights))

    search = HypencoderMTEBSearch(model, mteb_model_meta=None)
    assert search_model_for(search, World(), query_max_length=512) is search and search.query_max_length == 512
    search_model_for(search, World())
    assert search.query_max_length is None  # the next task without a setting reads the model's own length


@pytest.mark.slow
def test_the_papers_suite_runs_what_is_present_and_names_what_is_missing(trec_root, tmp_path, capsys, monkeypatch):
    """MS MARCO's folder holds TREC-DL 2019's split only here: MSMARCO (its dev split) is
    named as missing with the BEIR sets, the two TREC-DL years run."""
    monkeypatch.setenv("COLUMNS", "300")
    root, _ = trec_root
    out_dir = tmp_path / "out"
    code = main(["run", "--tasks", "Hypencoder-paper", "--models", "minilm", "--data-root", str(root),
                 "--output-dir", str(out_dir), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0
    done = sorted(p.stem for p in out_dir.glob("sentence-transformers__all-MiniLM-L6-v2/*/*.json")
                  if p.stem != "model_meta")
    assert done == ["TRECDL2019", "TRECDL2020"]
    notes = " ".join(out.split())
    assert "Skipping 6 of the selected tasks" in notes
    assert f"MSMARCO: put it at {root / 'beir' / 'msmarco'} (with qrels/dev.tsv)" in notes
    for name in ("TRECCOVID", "FiQA2018", "NFCorpus", "DBPedia", "Touche2020"):
        assert f"{name}: put it at" in notes


def test_dl_hard_without_its_judgements_downloads_nothing_and_says_how_to_get_them(tmp_path, monkeypatch):
    """Its topics have no download we run: the gigabyte corpus is not fetched for nothing."""
    from hyperret_eval.core.errors import DataNotFoundError

    for name in ("HYPERRET_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    fetched = []
    monkeypatch.setattr(sources.download, "download_beir_zip", lambda url, dest: fetched.append(url))
    spec = load_catalogue()["DL-Hard"]
    with pytest.raises(DataNotFoundError, match=r"ir_datasets export msmarco-passage/trec-dl-hard queries"):
        sources.load(spec.name, spec.source, spec.split, tmp_path)
    assert fetched == []
