"""A model folder never makes us run code, nor read files outside it.

transformers and sentence-transformers import code that a folder names (an ``auto_map``
in a config, a module class in ``modules.json``) only when given
``trust_remote_code=True``; this project never passes it (our own sentence-transformers
module is handed over as a class, see :func:`hyperret_eval.models.sentence_model.load_sentence_transformer`).
That alone keeps code out; :func:`check_model_folder` runs first so that a hostile or
damaged folder is refused with a message naming the file, whatever a library version
would do with it:

- a symlink anywhere in the folder that leads outside it (libraries read through it);
- an entry that is neither a folder nor a regular file (a FIFO would block the library
  that opens it, a device never ends);
- a JSON file that is not bounded JSON (see :mod:`hyperret_eval.core.jsonfile`), or that holds
  an ``auto_map`` at any depth: a request to run code that ships with the model;
- a sentence-transformers module config (``sentence_*_config.json``) naming another
  model to read (``tokenizer_name_or_path`` and the like): transformers would read it
  from wherever it points, relative to the working directory;
- loading options in such a config (``model_args``, ``tokenizer_args``, ``config_args``
  and their newer names) other than those of :data:`LOADING_OPTIONS`: transformers acts on
  many (``attn_implementation`` may name a hub repository of compiled kernels,
  ``gguf_file`` or ``offload_folder`` a path anywhere, ``device_map`` a placement); only
  options known to be harmless, with values known to be harmless, pass.

After loading, :func:`check_vocabulary` refuses a tokenizer whose vocabulary is far
smaller than the model's embedding table (a folder missing its vocabulary file loads as a
tokenizer of its few special tokens, and every text becomes ``[UNK]``).
"""

from __future__ import annotations

import os
from pathlib import Path

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import check_regular, read_json
from hyperret_eval.core.paths import inside

CODE_KEY = "auto_map"
_DTYPES = ("auto", "float32", "float16", "bfloat16")
_SIDES = ("left", "right")
# Each group of loading options a sentence-transformers module config may hold (under its
# old and new names), and for each option the values it may take: a tuple of values, or a type.
_MODEL_OPTIONS = {"torch_dtype": _DTYPES, "dtype": _DTYPES, "attn_implementation": ("eager", "sdpa")}
_TOKENIZER_OPTIONS = {"do_lower_case": bool, "model_max_length": int, "use_fast": bool, "add_prefix_space": bool,
                      "clean_up_tokenization_spaces": bool, "padding_side": _SIDES, "truncation_side": _SIDES,
                      "strip_accents": bool, "tokenize_chinese_chars": bool}
_CONFIG_OPTIONS = {"hidden_dropout_prob": float, "attention_probs_dropout_prob": float}
LOADING_OPTIONS = {"model_args": _MODEL_OPTIONS, "model_kwargs": _MODEL_OPTIONS,
                   "tokenizer_args": _TOKENIZER_OPTIONS, "processor_kwargs": _TOKENIZER_OPTIONS,
                   "config_args": _CONFIG_OPTIONS, "config_kwargs": _CONFIG_OPTIONS}
VOCABULARY_SHARE = 0.5  # a tokenizer knowing fewer tokens than this share of the embedding rows is refused


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
            if not entry.is_dir():
                check_regular(entry, "model's file")  # a FIFO would block a library reading it
            if name.endswith(".json") and entry.is_file():
                settings = read_json(entry, "model's settings")
                _refuse_code(entry, settings)
                if name.startswith("sentence_") and isinstance(settings, dict):
                    _refuse_other_models(entry, settings)
                    _refuse_loading_options(entry, settings)


def check_vocabulary(tokenizer, backbone, where: Path | str) -> None:
    """Refuse a tokenizer whose vocabulary is far smaller than ``backbone``'s embedding table."""
    rows = getattr(backbone.get_input_embeddings(), "num_embeddings", None)
    tokens = len(tokenizer)
    if rows and tokens < VOCABULARY_SHARE * rows:
        raise UserError(f"{where}: the tokenizer knows {tokens} tokens but the model's embedding table has {rows} rows; "
                        "its vocabulary file is missing or belongs to another model, and every text would be read "
                        "as unknown tokens")


def _refuse_loading_options(path: Path, settings: dict) -> None:
    for group, allowed in LOADING_OPTIONS.items():
        options = settings.get(group)
        if options is None:
            continue
        if not isinstance(options, dict):
            raise UserError(f"{path}: {group} must be an object of loading options, found {type(options).__name__}")
        for option, value in options.items():
            accepts = allowed.get(option)
            fits = accepts is not None and (
                value in accepts if isinstance(accepts, tuple)
                else isinstance(value, (float, int) if accepts is float else accepts)
                and (accepts is bool or not isinstance(value, bool)))
            if not fits:
                known = ", ".join(f"{k} {v if isinstance(v, tuple) else v.__name__}" for k, v in allowed.items())
                raise UserError(f"{path}: {group}.{option} = {value!r} is not a loading option passed to transformers "
                                f"(those allowed: {known}); refusing to load the model")


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
