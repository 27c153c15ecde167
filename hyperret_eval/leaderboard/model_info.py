"""What the leaderboard says about a model beside its scores, read from the
``model_meta.json`` mteb writes next to its results: where to read about it, its size, and
whether it is zero-shot on a task (mteb's ``ModelMeta.is_zero_shot_on``: the model's
declared training data holds neither the task nor one mteb counts as similar)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json


@dataclass(frozen=True)
class ModelInfo:
    reference: str | None  # the model's page, paper or code: an http(s) address, else None
    n_parameters: int | None
    adapted_from: str | None
    zero_shot: dict[str, bool | None]  # task -> zero-shot; None when no training data is declared


def read_model_info(path: Path, tasks: list[str]) -> ModelInfo | None:
    """The model described by ``path`` (a model_meta.json), its zero-shot flag on each of
    ``tasks``; None when the file is missing or mteb cannot read it."""
    from mteb.models.model_meta import ModelMeta

    try:
        data = read_json(Path(path), "model_meta.json")
        # The loader is code, named by a string in the file; nothing here loads the model.
        meta = ModelMeta.model_validate({**data, "loader": None})
    except (UserError, ValueError):  # pydantic's ValidationError is a ValueError
        return None
    return ModelInfo(
        reference=web_address(meta.reference),
        n_parameters=meta.n_parameters,
        adapted_from=meta.adapted_from,
        zero_shot={task: meta.is_zero_shot_on([task]) for task in tasks},
    )


def web_address(text: str | None) -> str | None:
    """``text`` if it is an http(s) address with a host, the only kind the page links to
    (a ``javascript:`` or ``data:`` reference would run or show code of the result's author)."""
    if not text:
        return None
    parts = urlsplit(text)
    return text if parts.scheme in ("http", "https") and parts.netloc else None
