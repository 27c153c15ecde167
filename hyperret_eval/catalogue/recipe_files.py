"""Recipe files: a TOML, JSON or YAML file that names a base recipe and overrides some of
its settings, read with bounds (size, YAML aliases, integer length) and checked setting by
setting against the recipe's dataclass::

    recipe = "hicl"
    max_steps = 500
    text_file = "texts.txt"   # relative paths are relative to the recipe file
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import yaml

from hyperret_eval.catalogue.recipes import NAMED_RECIPES
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import check_depth, parse_json, parse_toml, read_json, read_text
from hyperret_eval.core.paths import default_cache_root, inside
from hyperret_eval.data.download import is_hub_file
from hyperret_eval.models.training_state import state_path

FILE_FORMATS = {".toml": "TOML", ".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
MAX_RECIPE_BYTES = 1024 * 1024  # a recipe is a few lines; a bigger file is a mistake or an attack
BASE_RECIPE_KEY = "recipe"
PATH_SETTINGS = ("text_file", "teacher_scores", "training_file")  # file paths, read relative to the recipe file
BACKBONE_SETTING = "backbone"  # a folder (inside the recipe's folder or the cache), a hub id or minilm


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
    text = read_text(path, "recipe file", max_bytes=MAX_RECIPE_BYTES)
    if file_format == "JSON":
        values = parse_json(text, str(path), "recipe")
    elif file_format == "TOML":
        values = parse_toml(text, str(path), "recipe")
    else:
        try:
            values = yaml.load(text, Loader=_NoAliasLoader)
        except (ValueError, RecursionError, yaml.YAMLError) as exc:
            raise UserError(f"{path}: not valid YAML ({exc})") from None
        check_depth(values, str(path), "recipe")
    if not isinstance(values, dict):
        raise UserError(f"{path}: expected a mapping of training settings, found {type(values).__name__}")
    return values


def _apply_settings(path: Path, base, values: dict, confined: bool = True):
    """``base`` with ``values`` applied; ``confined``: the file's paths must lie in its folder
    (a recipe file), else they are taken as written (the settings a checkpoint recorded)."""
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
            if confined:
                values[key] = str(inside(path.parent, values[key], f"{path}: {key} {values[key]!r}"))
            else:
                values[key] = str((path.parent / Path(values[key]).expanduser()).resolve())
    if confined and isinstance(values.get(BACKBONE_SETTING), str):
        values[BACKBONE_SETTING] = _confined_backbone(path, values[BACKBONE_SETTING])
    try:
        return dataclasses.replace(base, **values)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


def _confined_backbone(path: Path, backbone: str) -> str:
    """A recipe file's ``backbone``: a hub id or ``minilm`` as written; a folder resolved
    relative to the file, which must lie in the file's folder or in the cache."""
    from hyperret_eval.models.backbones import PACKAGED_MINILM
    from hyperret_eval.models.hub import looks_like_hub_id

    folder = (path.parent / Path(backbone).expanduser()).resolve()
    if backbone.lower() == PACKAGED_MINILM or (looks_like_hub_id(backbone) and not folder.exists()):
        return backbone
    for root in (path.parent, default_cache_root()):
        try:
            return str(inside(root, folder, "backbone"))
        except UserError:
            continue
    raise UserError(f"{path}: backbone {backbone!r} leads outside the recipe's folder {path.parent.resolve()} "
                    f"and the cache {default_cache_root().resolve()} (to {folder}); refusing to read it")


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


# HiCL's module config file (HiCLEncoder.config_file_name; this layer imports no torch).
HICL_MODULE_CONFIG = "hicl_config.json"


def recipe_of_checkpoint(folder: Path):
    """The recipe a checkpoint folder we trained records in its training state (or, for a
    HiCL saved again elsewhere, in its module config), checked as a recipe file is; None
    for a folder with neither (a model trained elsewhere)."""
    path = state_path(folder)
    if not path.is_file():
        return _recipe_in_module_config(folder)
    state = read_json(path, "training state")
    settings = state.get("config") if isinstance(state, dict) else None
    if not isinstance(settings, dict):
        raise UserError(f"{path}: the training state has no `config` mapping; it is not a state this project wrote")
    return recorded_recipe(path, settings)


def recorded_recipe(origin: Path, settings: dict):
    """The recipe whose settings a checkpoint or a result recorded (``origin``: the file,
    for messages), checked as a recipe file is; its paths are taken as written."""
    # The two recipe families share most settings; only Hypencoder/BE have a q-net size.
    base = NAMED_RECIPES["hypencoder" if "qnet_layers" in settings else "hicl"].config
    return _apply_settings(origin, base, settings, confined=False)


def _recipe_in_module_config(folder: Path):
    """The recipe HiCL's module config records (``hicl_config.json``: ``"recipe"``), which a
    copy saved without the training state (``save_pretrained``) keeps; None without one."""
    path = folder / HICL_MODULE_CONFIG
    settings = read_json(path, "HiCL module config") if path.is_file() else None
    recipe = settings.get("recipe") if isinstance(settings, dict) else None
    if recipe is None:
        return None
    if not isinstance(recipe, dict):
        raise UserError(f"{path}: `recipe` must be a mapping of training settings")
    return _apply_settings(path, NAMED_RECIPES["hicl"].config, recipe, confined=False)
