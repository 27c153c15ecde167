"""Shared fixtures and helpers: the real benchmark data at ../shared/data and the shared
fixtures beside it (tests that need them are skipped, saying why, where they are absent),
small BEIR folders and data roots cut from the data or written from scratch, the packaged
MiniLM model (loaded once per session), a throwaway cache root, a loopback stand-in for
the Hugging Face hub, free ports, child processes that import this checkout, and a
pickle payload that proves whether unpickling ran code."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
# Fixtures that make every test using them slow: a real `hyperret-eval run` (half a minute on a CPU).
SLOW_FIXTURES = {"minilm_run_results"}
SHARED = REPO.parent / "shared"
OFFICIAL_HYPENCODER = SHARED / "fixtures" / "hypencoder-official-format-tiny"


def pytest_collection_modifyitems(items) -> None:
    """Mark ``slow`` every test that uses a slow fixture, however indirectly."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def shared_data_root() -> Path:
    """The benchmark data (``$HYPERRET_TEST_DATA``, else ../shared/data); the test is
    skipped, saying where it looked, when it is not there."""
    root = Path(os.environ.get("HYPERRET_TEST_DATA", SHARED / "data")).resolve()
    if not (root / "sts").is_dir():
        pytest.skip(f"benchmark data not found at {root}; set HYPERRET_TEST_DATA to the shared data folder")
    return root


def official_hypencoder() -> Path:
    """A tiny Hypencoder checkpoint in the released models' format (../shared/fixtures);
    the test is skipped, saying where it looked, when it is not there."""
    if not (OFFICIAL_HYPENCODER / "config.json").is_file():
        pytest.skip(f"the official-format Hypencoder fixture is not at {OFFICIAL_HYPENCODER}")
    return OFFICIAL_HYPENCODER


@pytest.fixture(scope="session", autouse=True)
def throwaway_cache_root(tmp_path_factory) -> Iterator[Path]:
    """Point ``$HYPERRET_CACHE`` at a temporary folder for the whole session, so nothing a
    test runs (cached passage vectors, graphs, checkpoints) is read from or written to the
    user's cache. Tests that need a cache of their own still set it themselves.

    Offline mode is set too: a test selecting a group (``--tasks BEIR``) on a small data
    root must not download the group's missing datasets, gigabytes on a machine that is
    online. Tests of downloads unset it and serve the data on loopback."""
    root = tmp_path_factory.mktemp("cache-root")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HYPERRET_CACHE", str(root))
        patch.setenv("HYPERRET_OFFLINE", "1")
        yield root


@pytest.fixture(scope="session")
def data_root() -> Path:
    return shared_data_root()


@pytest.fixture(scope="session")
def minilm():
    from hyperret_eval.catalogue.models import resolve_model
    from hyperret_eval.integrations.mteb_loader import load_for_mteb

    return load_for_mteb(resolve_model("minilm"), "cpu")


class PicklePayload:
    """A pickle that creates ``marker`` when unpickled: the proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def files_under(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, hidden ones (temporary files) included."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that imports this checkout of the package."""
    paths = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": paths, **extra}


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
def tiny_train_root(tmp_path) -> Path:
    """A BEIR folder written from scratch: four judged queries over eight one-line passages
    (a training step takes a moment), needing no benchmark data."""
    topics = ["protein folding", "vitamin d", "sleep apnea", "gene editing", "malaria", "insulin", "ageing", "asthma"]
    folder = tmp_path / "tiny" / "beir" / "scifact"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"a study of {t}"}) + "\n"
                                                 for i, t in enumerate(topics)))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": f"what causes {t}?"}) + "\n"
                                                  for i, t in enumerate(topics[:4])))
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(4)))
    return tmp_path / "tiny"


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


@pytest.fixture
def http_folder(tmp_path):
    """Serve ``tmp_path/www`` on 127.0.0.1; yields (folder, base URL, requests), where
    requests lists each path asked for."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-") -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


class MockHub:
    """A loopback stand-in for the Hugging Face hub endpoints ``snapshot_download`` calls:
    ``GET /api/models/{repo}[/revision/{rev}]`` (model info with ``sha`` and ``siblings``),
    ``GET /api/models/{repo}/tree/{rev}`` (the file listing) and ``HEAD``/``GET
    /{repo}/resolve/{rev}/{file}`` (the ``X-Repo-Commit``, ``ETag`` and ``Content-Length``
    headers, and the file); for a dataset repository, the same under ``/api/datasets/`` and
    ``/datasets/``. Unknown repositories, revisions and files get the hub's 404 with its
    ``X-Error-Code``. ``requests`` lists every request as ``"METHOD /path"``."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], tuple[str, dict[str, bytes]]] = {}  # (kind, repo id) -> ...
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_HubHandler,), {"hub": self}))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mock-hub", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, repo_id: str, sha: str, folder: Path, extra: dict[str, bytes] | None = None,
              kind: str = "models") -> None:
        """Publish every file under ``folder`` (and ``extra``) as ``repo_id`` at commit ``sha``;
        ``kind`` is ``models`` or ``datasets``."""
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        self.repos[(kind, repo_id)] = (sha, {**files, **(extra or {})})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _HubHandler(BaseHTTPRequestHandler):
    hub: MockHub
    timeout = 10  # a client that stalls cannot hold a server thread past the test

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def log_message(self, format, *args) -> None:  # keep test output clean
        pass

    def _answer(self, with_body: bool) -> None:
        self.hub.requests.append(f"{self.command} {self.path}")
        parts = unquote(urlsplit(self.path).path).strip("/").split("/")
        api = parts[0] == "api" and parts[1:2] in (["models"], ["datasets"])
        kind = parts[1] if api else "datasets" if parts[0] == "datasets" else "models"
        if not api and kind == "datasets":
            parts = parts[1:]
        repo_id = "/".join(parts[2:4] if api else parts[:2])
        if (kind, repo_id) not in self.hub.repos:
            return self._send(404, b"", with_body, {"X-Error-Code": "RepoNotFound"})
        sha, files = self.hub.repos[(kind, repo_id)]
        rest = parts[4:] if api else parts[2:]
        if len(rest) >= 2 and rest[1] not in ("main", sha):
            return self._send(404, b"", with_body, {"X-Error-Code": "RevisionNotFound"})
        if api and (not rest or rest[0] == "revision"):
            info = {"id": repo_id, "modelId": repo_id, "sha": sha, "private": False,
                    "siblings": [{"rfilename": name} for name in files]}
            return self._send_json(info, with_body)
        if api and rest[0] == "tree":
            return self._send_json(_tree(files), with_body)
        name = "/".join(rest[2:])
        if rest[:1] != ["resolve"] or name not in files:
            return self._send(404, b"", with_body, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha})
        etag = hashlib.sha256(files[name]).hexdigest()
        self._send(200, files[name], with_body, {"X-Repo-Commit": sha, "ETag": f'"{etag}"'})

    def _send_json(self, payload, with_body: bool) -> None:
        self._send(200, json.dumps(payload).encode(), with_body, {"Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, with_body: bool, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)


def _tree(files: dict[str, bytes]) -> list[dict]:
    """The recursive tree listing: every file with its git blob id and size, and every folder."""
    folders = sorted({"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)})
    listing = [{"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "path": f} for f in folders]
    for name, data in files.items():
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        listing.append({"type": "file", "oid": blob, "size": len(data), "path": name})
    return listing


@pytest.fixture
def mock_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockHub]:
    """A :class:`MockHub` on a free loopback port, with ``HF_ENDPOINT`` pointing at it, a
    throwaway hub cache, and the offline switches off; stopped at teardown."""
    import huggingface_hub.constants

    from hyperret_eval.data.download import OFFLINE_ENV

    hub = MockHub()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    for name in (*OFFLINE_ENV, "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub reads HF_HUB_OFFLINE once, at import: a session started offline would
    # otherwise refuse every request to the mock.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    try:
        yield hub
    finally:
        hub.stop()


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released): free for a server to
    take, and until then one that refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_measured(code: str, *args: str, limit_gb: float = 6.0, timeout: float = 600) -> tuple[int, str, float]:
    """Python ``code`` (which sets ``status``; ``sys.argv[1:]`` is ``args``) in a child process
    under an address-space ceiling, so that a memory bomb fails there instead of taking the
    machine: its exit status, its stderr and its peak resident memory in GB. The peak is
    the child's own ``VmHWM``: ``ru_maxrss`` would carry over, through fork and exec, the
    resident size of the test process that started it (gigabytes late in a suite)."""
    import subprocess
    import sys

    limit = int(limit_gb * 2**30)
    wrapped = ("import resource, sys\n"
               f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
               "status = 1\n"
               "try:\n"
               + "".join(f"    {line}\n" for line in code.splitlines()) +
               "finally:\n"
               "    peak = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
               "    print(f'PEAK_KB {peak}', file=sys.stderr)\n"
               "sys.exit(status)\n")
    done = subprocess.run([sys.executable, "-c", wrapped, *args], capture_output=True, text=True, timeout=timeout,
                          env=child_env())
    peaks = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_KB ")]
    peak_gb = int(peaks[-1]) / 2**20 if peaks else float("nan")
    return done.returncode, done.stderr, peak_gb


def run_cli_measured(*args: str, **limits) -> tuple[int, str, float]:
    """``hyperret-eval ARGS`` through :func:`run_measured`."""
    return run_measured("from hyperret_eval.cli import main\nstatus = main(sys.argv[1:])", *args, **limits)


def outcome_within(seconds: float, call):
    """What ``call()`` returned or raised, or a test failure if it is still running after
    ``seconds``: it runs in a daemon thread, so a call blocked for good (opening a FIFO)
    cannot hold the test run."""
    outcome = []

    def target():
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still blocked after {seconds} s"
    return outcome[0]
