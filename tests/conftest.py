"""Shared fixtures: the real benchmark data at ../shared/data, small data roots cut from
it, the packaged MiniLM model (loaded once per session), and a throwaway cache root."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    root = Path(os.environ.get("HYPERRET_TEST_DATA", REPO.parent / "shared" / "data")).resolve()
    if not (root / "sts").is_dir():
        pytest.fail(f"benchmark data not found at {root}; set HYPERRET_TEST_DATA to the shared data folder")
    return root


@pytest.fixture(scope="session", autouse=True)
def throwaway_cache_root(tmp_path_factory) -> Iterator[Path]:
    """Point ``$HYPERRET_CACHE`` at a temporary folder for the whole session, so nothing a
    test runs (cached passage vectors, graphs, checkpoints) is read from or written to the
    user's cache. Tests that need a cache of their own still set it themselves."""
    root = tmp_path_factory.mktemp("cache-root")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HYPERRET_CACHE", str(root))
        yield root


@pytest.fixture(scope="session")
def data_root() -> Path:
    return shared_data_root()


@pytest.fixture(scope="session")
def minilm():
    from hyperret_eval.models.registry import resolve_model

    return resolve_model("minilm").load("cpu")


def copy_head(src: Path, dst: Path, lines: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, encoding="utf-8") as fin, open(dst, "w", encoding="utf-8") as fout:
        for i, line in enumerate(fin):
            if i >= lines:
                break
            fout.write(line)


def make_small_beir(src: Path, dst: Path, n_queries: int, n_extra_docs: int) -> None:
    """A BEIR folder with the first ``n_queries`` judged test queries, their judged
    documents, and ``n_extra_docs`` more documents as distractors."""
    qrel_lines = (src / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = qrel_lines[0], [r.split("\t") for r in qrel_lines[1:] if r.strip()]
    keep_queries: list[str] = []
    for qid, _, _ in rows:
        if qid not in keep_queries:
            keep_queries.append(qid)
    keep_queries = keep_queries[:n_queries]
    rows = [r for r in rows if r[0] in keep_queries]
    judged = {r[1] for r in rows}
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    (dst / "qrels" / "test.tsv").write_text("\n".join([header, *("\t".join(r) for r in rows)]) + "\n", encoding="utf-8")
    with open(src / "corpus.jsonl", encoding="utf-8") as fin, open(dst / "corpus.jsonl", "w", encoding="utf-8") as fout:
        extra = 0
        for line in fin:
            doc_id = json.loads(line)["_id"]
            if doc_id in judged or extra < n_extra_docs:
                extra += doc_id not in judged
                fout.write(line)
    with open(src / "queries.jsonl", encoding="utf-8") as fin, open(dst / "queries.jsonl", "w", encoding="utf-8") as fout:
        for line in fin:
            if json.loads(line)["_id"] in keep_queries:
                fout.write(line)


def make_small_data_root(root: Path, data_root: Path) -> Path:
    """A data root holding a 40-pair STS12 (two subsets) and a 10-query SciFact."""
    src = data_root / "sts" / "original" / "STS12"
    for subset in ("MSRpar", "MSRvid"):
        for kind in ("input", "gs"):
            copy_head(src / f"STS.{kind}.{subset}.txt", root / "sts/original/STS12" / f"STS.{kind}.{subset}.txt", 20)
    make_small_beir(data_root / "beir" / "scifact", root / "beir" / "scifact", n_queries=10, n_extra_docs=60)
    return root


@pytest.fixture
def train_root(tmp_path, data_root):
    """SciFact with its first 12 training queries, their documents and 60 distractors."""
    src = data_root / "beir" / "scifact"
    dst = tmp_path / "data" / "beir" / "scifact"
    (dst / "qrels").mkdir(parents=True)
    rows = (src / "qrels" / "train.tsv").read_text().splitlines()
    keep = rows[1:13]
    (dst / "qrels" / "train.tsv").write_text("\n".join([rows[0], *keep]) + "\n")
    queries, docs = {r.split("\t")[0] for r in keep}, {r.split("\t")[1] for r in keep}
    with open(src / "queries.jsonl") as fin, open(dst / "queries.jsonl", "w") as fout:
        fout.writelines(line for line in fin if json.loads(line)["_id"] in queries)
    with open(src / "corpus.jsonl") as fin, open(dst / "corpus.jsonl", "w") as fout:
        extra = 0
        for line in fin:
            doc = json.loads(line)["_id"]
            if doc in docs or extra < 60:
                extra += doc not in docs
                fout.write(line)
    return tmp_path / "data"


@pytest.fixture
def small_data_root(tmp_path: Path, data_root: Path) -> Path:
    """A data root holding a 40-pair STS12 (two subsets) and a 10-query SciFact."""
    return make_small_data_root(tmp_path / "data", data_root)


@pytest.fixture(scope="session")
def minilm_run_results(tmp_path_factory, data_root: Path) -> Path:
    """The results folder of one real `hyperret-eval run` of minilm on the small STS12 and
    SciFact. Shared by the whole session: copy it before changing anything in it."""
    from hyperret_eval.cli import main

    folder = tmp_path_factory.mktemp("minilm-run")
    small = make_small_data_root(folder / "data", data_root)
    code = main(["run", "--tasks", "STS12,SciFact", "--models", "minilm", "--data-root", str(small),
                 "--output-dir", str(folder / "results"), "--device", "cpu", "--no-senteval"])
    assert code == 0, "the run that makes the leaderboard tests' results failed"
    return folder / "results"


@pytest.fixture
def broken_beir_root(tmp_path: Path, data_root: Path):
    """A function making a data root whose SciFact copy is damaged by ``damage(folder)``."""

    def make(damage) -> Path:
        root = tmp_path / "broken"
        make_small_beir(data_root / "beir" / "scifact", root / "beir" / "scifact", n_queries=5, n_extra_docs=10)
        damage(root / "beir" / "scifact")
        return root

    return make


def run_measured(code: str, *args: str, limit_gb: float = 6.0, timeout: float = 600) -> tuple[int, str, float]:
    """Python ``code`` (which sets ``status``; ``sys.argv[1:]`` is ``args``) in a child process
    under an address-space ceiling, so that a memory bomb fails there instead of taking the
    machine: its exit status, its stderr and its peak resident memory in GB (``ru_maxrss``)."""
    import subprocess
    import sys

    limit = int(limit_gb * 2**30)
    wrapped = ("import resource, sys\n"
               f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
               "status = 1\n"
               "try:\n"
               + "".join(f"    {line}\n" for line in code.splitlines()) +
               "finally:\n"
               "    print(f'PEAK_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
               "sys.exit(status)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", wrapped, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)
    peaks = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_KB ")]
    peak_gb = int(peaks[-1]) / 2**20 if peaks else float("nan")
    return done.returncode, done.stderr, peak_gb


def run_cli_measured(*args: str, **limits) -> tuple[int, str, float]:
    """``hyperret-eval ARGS`` through :func:`run_measured`."""
    return run_measured("from hyperret_eval.cli import main\nstatus = main(sys.argv[1:])", *args, **limits)
