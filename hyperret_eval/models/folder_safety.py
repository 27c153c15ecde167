"""A model folder never makes us run code, nor read files outside it.

transformers and sentence-transformers import code that a folder names (an ``auto_map``
in a config, a module class in ``modules.json``) only when given
``trust_remote_code=True``; this project never passes it (our own sentence-transformers
module is handed over as a class, see :func:`hyperret_eval.models.sentence_model.load_sentence_transformer`).
That alone keeps code out; :func:`check_model_folder` runs first so that a hostile or
damaged folder is refused with a message naming the file, whatever a library version
would do with it:

- a symlink anywhere in the folder that leads outside it (libraries read through it);
- a JSON file that is not bounded JSON (see :mod:`hyperret_eval.core.jsonfile`), or that holds
  an ``auto_map`` at any depth: a request to run code that ships with the model;
- a sentence-transformers module config (``sentence_*_config.json``) naming another
  model to read (``tokenizer_name_or_path`` and the like): transformers would read it
  from wherever it points, relative to the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.core.paths import inside

CODE_KEY = "auto_map"


def hub_repository(folder: Path) -> Path | None:
    """The repository folder of a Hugging Face cache snapshot
    (``models--org--name/snapshots/<commit>``), whose files are links into the
    repository's ``blobs/``; None for any other folder."""
    folder = Path(folder).resolve()
    if folder.parent.name == "snapshots" and folder.parents[1].name.startswith("models--"):
        return folder.parents[1]
    return None


def check_model_folder(folder: Path) -> None:
    """Refuse ``folder`` if it links outside itself (a hub cache snapshot: outside its
    repository folder) or if a JSON file in it asks for code. Every file is looked at, not
    a list of the names we expect."""
    root = Path(folder).resolve()
    allowed = hub_repository(root) or root
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            entry = Path(dirpath) / name
            if entry.is_symlink():
                # A linked folder is not walked: it must point back into this folder, which is.
                inside(root if entry.is_dir() else allowed, entry, f"the model's link {entry}")
            if name.endswith(".json") and entry.is_file():
                settings = read_json(entry, "model's settings")
                _refuse_code(entry, settings)
                if name.startswith("sentence_") and isinstance(settings, dict):
                    _refuse_other_models(entry, settings)


def _refuse_other_models(path: Path, settings: dict) -> None:
    named = sorted(key for key in settings if key.endswith("name_or_path"))
    if named:
        raise UserError(f"{path} names another model to read ({', '.join(named)}); a model folder must hold "
                        "its own files")


def _refuse_code(path: Path, value) -> None:
    """A UserError if a JSON value holds an ``auto_map`` key anywhere in it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if CODE_KEY in item:
                raise UserError(f"{path} maps to code shipped with the model ({CODE_KEY}); "
                                "refusing to run code from a model folder")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
