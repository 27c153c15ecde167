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
