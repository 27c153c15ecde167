"""Bring committed result folders up to what `run` writes now, scores untouched.

For each result file under the folders given (by default ``results/`` and
``leaderboard/results/``):

- a result on data whose hash is the one the catalogue knows for mteb's dataset
  (``mteb_data_hash``) names mteb's dataset revision in ``dataset_revision``, and keeps the
  hash in its provenance (``"hyperret": {"data_revision": ...}``);
- a ``model_meta.json`` of a checkpoint our recipes trained gets what it inherits from the
  model it started from (licence, languages, open weights), the paper and citation of
  what its recipe trains (``paper_of``: SimCSE's for SimCSE, the Hypencoder paper's for a
  Hypencoder and for BE) and, when missing, its parameter count, counted on the
  architecture its recipe builds.

Nothing is changed that `run` would compute differently today; scores, dates and
provenance stay as they are. Each file is rewritten atomically, and only when it changes.

    .venv/bin/python scripts/refresh_result_metadata.py [FOLDER ...]
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

from hyperret_eval.catalogue.recipe_files import recorded_recipe
from hyperret_eval.catalogue.recipes import citation_of, paper_of
from hyperret_eval.catalogue.tasks import load_catalogue
from hyperret_eval.core import atomic
from hyperret_eval.evaluation.results import DATA_REVISION_KEY, PROVENANCE_KEY
from hyperret_eval.integrations.mteb_meta import inherited_metadata
from hyperret_eval.integrations.mteb_tasks import task_metadata

REPO = Path(__file__).resolve().parents[1]


@cache
def _parameters(recipe_json: str) -> int:
    """The parameter count of the architecture a recipe (as a result records it) builds."""
    from hyperret_eval.models.backbones import backbone_path
    from hyperret_eval.models.hypencoder import Hypencoder

    recipe = json.loads(recipe_json)
    if recipe.get("model", "hypencoder") != "hypencoder" or "qnet_layers" not in recipe:
        from transformers import AutoModel

        model = AutoModel.from_pretrained(str(backbone_path(recipe.get("backbone", "minilm"))))
    else:
        model = Hypencoder.from_backbone(recipe.get("backbone", "minilm"), qnet_layers=recipe["qnet_layers"])
    return sum(parameter.numel() for parameter in model.parameters())


def _write_if_changed(path: Path, before: str, body) -> bool:
    after = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if after != before:
        atomic.write_text(path, after)
        return True
    return False


def refresh_result(path: Path, catalogue) -> bool:
    text = path.read_text(encoding="utf-8")
    body = json.loads(text)
    spec = catalogue.get(body.get("task_name"))
    provenance = body.get(PROVENANCE_KEY)
    if spec is None or spec.mteb_data_hash is None or not isinstance(provenance, dict):
        return False
    if body["dataset_revision"] != spec.mteb_data_hash:
        return False
    mteb_dataset = task_metadata(spec, "check", spec.mteb_data_hash).dataset
    body["dataset_revision"] = mteb_dataset["revision"]
    provenance[DATA_REVISION_KEY] = spec.mteb_data_hash
    return _write_if_changed(path, text, body)


def refresh_model_meta(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    meta = json.loads(text)
    if not str(meta.get("name", "")).startswith("hyperret/"):
        return False
    for key, value in inherited_metadata(meta.get("adapted_from")).items():
        if meta.get(key) is None:
            meta[key] = value
    recipes = {json.dumps(json.loads(result.read_text(encoding="utf-8"))[PROVENANCE_KEY]["checkpoint"]["recipe"],
                          sort_keys=True)
               for result in path.parent.glob("*.json") if result.name != path.name}
    if len(recipes) == 1:
        recipe_json = recipes.pop()
        config = recorded_recipe(path, json.loads(recipe_json))
        meta["reference"], meta["citation"] = paper_of(config), citation_of(config)
        if meta.get("n_parameters") is None:
            meta["n_parameters"] = _parameters(recipe_json)
    return _write_if_changed(path, text, meta)


def main(folders: list[Path]) -> None:
    catalogue = load_catalogue()
    changed = 0
    for folder in folders:
        for path in sorted(folder.glob("*/*/*.json")):
            refreshed = refresh_model_meta(path) if path.name == "model_meta.json" else refresh_result(path, catalogue)
            if refreshed:
                changed += 1
                print(f"refreshed {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    print(f"{changed} files refreshed")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]] or [REPO / "results", REPO / "leaderboard" / "results"])
