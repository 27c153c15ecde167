"""Recipe files: a TOML, JSON or YAML file that names a base recipe and overrides some of
its settings, read with bounds (size, YAML aliases, integer length) and checked setting by
setting against the recipe's dataclass::

    recipe = "hicl"
    max_steps = 500
    text_file = "texts.txt"   # relative paths are relative to the recipe file
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path

import yaml

from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import parse_json, read_json
from hyperret_eval.data.download import is_hub_file
from hyperret_eval.models.training_state import state_path

FILE_FORMATS = {".toml": "TOML", ".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
MAX_RECIPE_BYTES = 1024 * 1024  # a recipe is a few lines; a bigger file is a mistake or an attack
BASE_RECIPE_KEY = "recipe"
PATH_SETTINGS = ("text_file", "teacher_scores", "training_file")  # file paths, read relative to the recipe file


def is_recipe_file(path: Path) -> bool:
    return path.suffix.lower() in FILE_FORMATS


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: a few hundred bytes of nested ``*anchor`` references expand
    to billions of nodes (the "billion laughs"); a recipe never needs one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a recipe",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _read_settings(path: Path) -> dict:
    file_format = FILE_FORMATS.get(path.suffix.lower(), "TOML")
    try:
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise UserError(f"{path}: {path.stat().st_size} bytes is too big for a recipe file "
                            f"(at most {MAX_RECIPE_BYTES})")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read recipe file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start + 1})") from None
    try:
        if file_format == "JSON":
            values = parse_json(text, str(path), "recipe")
        elif file_format == "YAML":
            values = yaml.load(text, Loader=_NoAliasLoader)
        else:
            values = tomllib.loads(text)
    # JSONDecodeError and TOMLDecodeError are ValueErrors; so are over-long integers.
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: not valid {file_format} ({exc})") from None
    if not isinstance(values, dict):
        raise UserError(f"{path}: expected a mapping of training settings, found {type(values).__name__}")
    return values


def _apply_settings(path: Path, base, values: dict):
    known = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"{path}: unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    accepted = {key: _accepted_types(base, key) for key in values}
    wrong = [f"{key} = {value!r} (expected {_kind_names(accepted[key])})"
             for key, value in values.items() if not _same_kind(value, accepted[key])]
    if wrong:
        raise UserError(f"{path}: setting(s) of the wrong type: {'; '.join(wrong)}")
    for key in PATH_SETTINGS:
        if isinstance(values.get(key), str) and not is_hub_file(values[key]):
            values[key] = str((path.parent / Path(values[key]).expanduser()).resolve())
    try:
        return dataclasses.replace(base, **values)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


def _accepted_types(recipe, key: str) -> tuple[type, ...]:
    """The types a setting's annotation allows (``float | None`` gives float and NoneType)."""
    hint = typing.get_type_hints(type(recipe))[key]
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return tuple(typing.get_origin(option) or option for option in options)


def _same_kind(value, accepted: tuple[type, ...]) -> bool:
    """Whether a file's value fits a setting: one of its types, an integer where a float is
    allowed, never a boolean for a number."""
    if isinstance(value, bool):
        return bool in accepted
    if isinstance(value, int) and float in accepted:
        return True
    return isinstance(value, tuple(t for t in accepted if t is not bool))


def _kind_names(accepted: tuple[type, ...]) -> str:
    return " or ".join("nothing" if kind is type(None) else kind.__name__ for kind in accepted)


def load_config_file(path: Path, base):
    """``base`` (a recipe) with the settings of a TOML, JSON or YAML file applied."""
    return _apply_settings(path, base, _read_settings(path))


def load_recipe_file(path: Path):
    """The recipe a file describes: its ``recipe`` key names the base, the rest override it."""
    values = _read_settings(path)
    base_name = values.pop(BASE_RECIPE_KEY, None)
    if base_name not in NAMED_RECIPES:
        found = "has no" if base_name is None else f"names an unknown recipe {base_name!r} in its"
        raise UserError(f"{path} {found} `{BASE_RECIPE_KEY}` key; set it to one of {', '.join(NAMED_RECIPES)}")
    return _apply_settings(path, NAMED_RECIPES[base_name].config, values)


def recipe_by_name_or_file(name: str):
    """A named recipe, or the recipe a file describes."""
    if name in NAMED_RECIPES:
        return NAMED_RECIPES[name].config
    path = Path(name).expanduser()
    if is_recipe_file(path):
        return load_recipe_file(path)
    raise UserError(f"unknown recipe {name!r}; expected one of {', '.join(NAMED_RECIPES)}, or a recipe file "
                    f"({', '.join(FILE_FORMATS)})")


def recipe_of_checkpoint(folder: Path):
    """The recipe a checkpoint folder we trained records in its training state, checked as a
    recipe file is; None for a folder with no training state (a model trained elsewhere)."""
    path = state_path(folder)
    if not path.is_file():
        return None
    state = read_json(path, "training state")
    settings = state.get("config") if isinstance(state, dict) else None
    if not isinstance(settings, dict):
        raise UserError(f"{path}: the training state has no `config` mapping; it is not a state this project wrote")
    # The two recipe families share most settings; only Hypencoder/BE have a q-net size.
    base = NAMED_RECIPES["hypencoder" if "qnet_layers" in settings else "hicl"].config
    return _apply_settings(path, base, settings)
