"""Small BEIR-layout folders cut from the real SciFact, in the layouts the catalogue's
datasets come in: with or without titles, another split's qrels, CQADupstack's forums;
and retrieval data laid out as mteb publishes it on the hub."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import make_small_beir

CQADUPSTACK_FORUMS = ("android", "english", "gaming", "gis", "mathematica", "physics", "programmers", "stats",
                      "tex", "unix", "webmasters", "wordpress")


def beir_folder(scifact: Path, dst: Path, n_queries: int = 4, n_extra_docs: int = 12, split: str = "test",
                titles: bool = True, own_id_docs: bool = False) -> Path:
    """A SciFact subset at ``dst`` whose qrels are ``qrels/<split>.tsv``.

    ``titles=False`` drops every ``title`` field (as in FiQA or ArguAna's records);
    ``own_id_docs`` adds, for each query, a document with the query's id and text, as
    ArguAna and Quora hold: mteb's tasks for them ignore such a document, so a score
    that counts it differs."""
    make_small_beir(scifact, dst, n_queries=n_queries, n_extra_docs=n_extra_docs)
    if split != "test":
        shutil.move(dst / "qrels" / "test.tsv", dst / "qrels" / f"{split}.tsv")
    corpus = [json.loads(line) for line in (dst / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    if not titles:
        corpus = [{k: v for k, v in doc.items() if k != "title"} for doc in corpus]
    if own_id_docs:
        queries = [json.loads(line) for line in (dst / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
        corpus += [{"_id": q["_id"], "title": "", "text": q["text"]} for q in queries]
    (dst / "corpus.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in corpus), encoding="utf-8")
    return dst


def cqadupstack_folders(scifact: Path, dst: Path) -> Path:
    """Twelve small forums under ``dst`` (``dst/android`` ...) that score differently: the
    k-th also judges k of its distractors relevant to its first query."""
    for number, forum in enumerate(CQADUPSTACK_FORUMS):
        folder = beir_folder(scifact, dst / forum, n_queries=3, n_extra_docs=12)
        qrels = (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
        judged = {row.split("\t")[1] for row in qrels[1:]}
        first_query = qrels[1].split("\t")[0]
        distractors = [json.loads(line)["_id"] for line in (folder / "corpus.jsonl").read_text().splitlines()]
        extra = [f"{first_query}\t{doc}\t1" for doc in distractors if doc not in judged][:number]
        (folder / "qrels" / "test.tsv").write_text("\n".join([*qrels, *extra]) + "\n", encoding="utf-8")
    return dst


def mteb_hub_dataset(folder: Path, corpus: dict[str, dict[str, str]], queries: dict[str, str],
                     qrels: dict[str, dict[str, int]], split: str = "train") -> Path:
    """Retrieval data laid out as mteb publishes its datasets on the hub: parquet files
    under corpus/, queries/ and qrels/, configurations named in README.md."""
    from datasets import Dataset

    tables = {
        "corpus": {"_id": list(corpus), "title": [d.get("title") or "" for d in corpus.values()],
                   "text": [d["text"] for d in corpus.values()]},
        "queries": {"_id": list(queries), "text": list(queries.values())},
        "qrels": {"query-id": [q for q, docs in qrels.items() for _ in docs],
                  "corpus-id": [d for docs in qrels.values() for d in docs],
                  "score": [s for docs in qrels.values() for s in docs.values()]},
    }
    card = ["---", "configs:"]
    for config, table in tables.items():
        Dataset.from_dict(table).to_parquet(folder / config / f"{split}-00000-of-00001.parquet")
        card += [f"- config_name: {config}", "  data_files:", f"  - split: {split}", f"    path: {config}/{split}-*"]
    (folder / "README.md").write_text("\n".join([*card, "---", ""]), encoding="utf-8")
    return folder
