"""mteb's retrieval datasets on the Hugging Face hub, written out in the BEIR layout.

A hub dataset (``corpus``, ``queries`` and ``qrels`` configurations, as mteb publishes
NanoBEIR) is read with mteb's own loader and written as ``corpus.jsonl``,
``queries.jsonl`` and ``qrels/<split>.tsv``, so that it is then read, checked and
fingerprinted like any BEIR folder.
"""

from __future__ import annotations

import json
from pathlib import Path


def write_beir_folder(snapshot: Path, target: Path, split: str) -> None:
    """Write the ``split`` of the hub dataset snapshot at ``snapshot`` as a BEIR folder at ``target``."""
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalDatasetLoader

    data = RetrievalDatasetLoader(hf_repo=str(snapshot), revision=None, split=split).load()
    (target / "qrels").mkdir(parents=True)
    with open(target / "corpus.jsonl", "w", encoding="utf-8") as out:
        for doc in data["corpus"]:
            record = {"_id": doc["id"], "title": doc.get("title") or "", "text": doc["text"]}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(target / "queries.jsonl", "w", encoding="utf-8") as out:
        for query in data["queries"]:
            out.write(json.dumps({"_id": query["id"], "text": query["text"]}, ensure_ascii=False) + "\n")
    with open(target / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for query_id, judged in data["relevant_docs"].items():
            out.writelines(f"{query_id}\t{doc_id}\t{score}\n" for doc_id, score in judged.items())


# The files of an mteb retrieval dataset on the hub that hold its queries and judgements
# (the ``queries`` and ``qrels``/``default`` configurations), not its corpus: TREC-DL
# 2020's 54 queries come without the 8.8M passages they share with MS MARCO.
QUERY_AND_QRELS_FILES = ("queries/*.parquet", "qrels/*.parquet", "default/*.parquet")


def _table(snapshot: Path, folders: tuple[str, ...], split: str) -> dict[str, list]:
    """The columns of a configuration's parquet files for ``split`` (all of them when the
    folder holds one split only)."""
    import pyarrow.parquet as pq

    for folder in folders:
        files = sorted((snapshot / folder).glob("*.parquet"))
        of_split = [f for f in files if f.name.startswith(f"{split}-")]
        if files:
            columns: dict[str, list] = {}
            for path in of_split or files:
                for name, values in pq.read_table(path).to_pydict().items():
                    columns.setdefault(name, []).extend(values)
            return columns
    raise ValueError(f"no parquet files under {' or '.join(f + '/' for f in folders)}")


def write_trec_files(snapshot: Path, target: Path, split: str, files: tuple[str, str]) -> None:
    """Write the queries and judgements of the ``split`` of the hub dataset at ``snapshot``
    as TREC writes them, in ``target``: ``files[0]`` (``qid<TAB>text``) and ``files[1]``
    (``qid 0 docid grade``)."""
    queries = _table(snapshot, ("queries",), split)
    qrels = _table(snapshot, ("qrels", "default"), split)
    ids = queries.get("id", queries.get("_id"))
    if ids is None or "text" not in queries or not {"query-id", "corpus-id", "score"} <= qrels.keys():
        raise ValueError("expected queries with id and text, and qrels with query-id, corpus-id and score")
    target.mkdir(parents=True)
    with open(target / files[0], "w", encoding="utf-8") as out:
        out.writelines(f"{query_id}\t{' '.join(str(text).split())}\n" for query_id, text in zip(ids, queries["text"]))
    with open(target / files[1], "w", encoding="utf-8") as out:
        out.writelines(f"{q} 0 {d} {int(g)}\n" for q, d, g in zip(qrels["query-id"], qrels["corpus-id"], qrels["score"]))
